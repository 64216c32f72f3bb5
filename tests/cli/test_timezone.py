"""One timezone rule for every output: a project in Asia/Shanghai reads +08:00 times everywhere —
CLI tables and JSON, and the API — never bare UTC."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from metricloop.localtime import iso, table_time, to_local
from metricloop.notify.render import fmt_time
from metricloop.workflow.grouping import AlertInput
from tests.api.service import Service, build_service
from tests.cli.conftest import Result

UTC_MOMENT = dt.datetime(2026, 9, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Service]:
    """The tiny project (timezone Asia/Shanghai) with one load and one incident, both at 10:00 local."""
    svc = build_service(tmp_path / "shop")
    csv = tmp_path / "visits.csv"
    csv.write_text("t,visits\n2026-09-02 09:00:00,3\n2026-09-02 10:00:00,5\n", encoding="utf-8")
    svc.ml.ingest(str(csv), "visits", time_column="t")  # the data's wall clock: 10:00 in Shanghai
    svc.ml.workflow.process([AlertInput(fingerprint="f" * 16, monitor="gmv_daily", metric="gmv", slice={},
                                        start=dt.datetime(2026, 9, 2, 9), end=dt.datetime(2026, 9, 2, 10),
                                        severity="critical", actual=10.0, expected=20.0)], now=UTC_MOMENT)
    yield svc
    svc.ml.close()


def test_helpers_write_the_offset() -> None:
    local = to_local(UTC_MOMENT.replace(tzinfo=None), dt.timezone(dt.timedelta(hours=8)))  # naive = stored UTC
    assert iso(local) == "2026-09-02T10:00:00+08:00"
    assert table_time(local) == "2026-09-02 10:00 +08:00"
    assert fmt_time(local) == "2026-09-02 10:00 +08:00"  # chat and mail messages: the offset, not "CST"
    ancient = dt.datetime(154, 8, 18, 15, 54, 41, tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert iso(ancient).endswith("+08:06")  # local mean time +08:05:43 is no RFC 3339 offset (the API fuzzer)


def test_cli_tables_and_json_use_the_project_timezone(shop: Service, cli: Callable[..., Result]) -> None:
    p = ["--project", str(shop.ml.project.root)]
    table = cli("incidents", "list", *p)
    assert table.returncode == 0, table.stderr
    assert "2026-09-02 10:00 +08:00" in table.stdout and "+00:00" not in table.stdout
    [row] = json.loads(cli("incidents", "list", *p, "--format", "json").stdout)
    assert row["triggered_at"] == "2026-09-02T10:00:00+08:00"
    assert row["window_start"] == "2026-09-02T09:00:00+08:00"
    shown = cli("incidents", "show", "INC-1", *p).stdout
    assert "2026-09-02 09:00 +08:00 → 2026-09-02 10:00 +08:00" in shown

    loads = cli("loads", *p)
    assert "2026-09-02 10:00 +08:00" in loads.stdout  # newest event: 10:00 local, not 02:00
    [load] = json.loads(cli("loads", *p, "--format", "json").stdout)
    assert load["max_event_time"] == "2026-09-02T10:00:00+08:00"
    assert load["finished_at"].endswith("+08:00")

    ran = cli("run", *p, "--at", "2026-09-02T10:00", "--no-notify", "--format", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["at"] == "2026-09-02T10:00:00+08:00"  # --at is the project's wall clock


def test_api_answers_use_the_project_timezone(shop: Service) -> None:
    c, boss = shop.client, shop.as_("boss")
    [load] = c.get("/api/v1/loads", headers=boss).json()["items"]
    assert load["max_event_time"] == "2026-09-02T10:00:00+08:00"
    assert load["started_at"].endswith("+08:00") and load["finished_at"].endswith("+08:00")
    [inc] = c.get("/api/v1/incidents", headers=boss).json()["items"]
    assert inc["triggered_at"] == "2026-09-02T10:00:00+08:00"
    users = c.get("/api/v1/users", headers=boss).json()
    items = users["items"] if isinstance(users, dict) else users
    assert items and all(u["created_at"].endswith("+08:00") for u in items)


ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _times(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _times(v, f"{path}[{i}]")
    elif isinstance(value, str) and ISO_TIME.match(value):
        yield path, value


def test_every_api_answer_writes_times_with_the_project_offset(shop: Service) -> None:
    """All GET routes without parameters (and an incident, a metric): no bare or UTC time anywhere."""
    c, boss = shop.client, shop.as_("boss")
    paths = [p for p, ops in c.get("/openapi.json").json()["paths"].items() if "get" in ops and "{" not in p]
    paths += ["/api/v1/incidents/INC-1", "/api/v1/metrics/gmv"]
    seen = 0
    for path in paths:
        answer = c.get(path, headers=boss)
        if "json" not in answer.headers.get("content-type", ""):
            continue
        assert answer.status_code == 200, (path, answer.text)
        for where, value in _times(answer.json()):
            assert value.endswith("+08:00"), (path, where, value)
            seen += 1
    assert seen >= 20  # loads, checks, incidents, audit, users, tokens, revisions ... were looked at


def test_every_cli_listing_writes_times_with_the_project_offset(shop: Service, cli: Callable[..., Result]) -> None:
    p = ["--project", str(shop.ml.project.root), "--format", "json"]
    seen = 0
    for cmd in (["incidents", "list"], ["incidents", "show", "INC-1"], ["incidents", "outbox"], ["loads"],
                ["checks", "list"], ["users", "list"], ["users", "audit"], ["catalog", "show", "gmv"],
                ["review", "draft", "INC-1"]):
        out = cli(*cmd, *p)
        assert out.returncode == 0, (cmd, out.stderr)
        for where, value in _times(json.loads(out.stdout)):
            assert value.endswith("+08:00"), (cmd, where, value)
            seen += 1
    assert seen >= 10
