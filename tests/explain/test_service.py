"""``ml.explain.explain`` and ``metricloop explain`` on the tiny project: real DuckDB, real store.

The same explanations on PostgreSQL and MariaDB (real servers, when the machine has them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from metricloop.engine.query import MetricQuery
from metricloop.errors import QueryError
from metricloop.service import MetricLoop
from tests.conftest import write_tiny_project

START, END = dt.datetime(2026, 1, 20), dt.datetime(2026, 1, 27)


def break_east_app(project: Path) -> None:
    """Four in five orders of 华东 × app vanish in the week from START (an injected incident)."""
    con = duckdb.connect(str(project / "warehouse.duckdb"))
    con.execute(
        "delete from orders where order_time >= ? and order_time < ? and region = '华东' and channel = 'app' "
        "and order_id % 5 <> 0", [START, END])
    con.close()


@pytest.fixture
def broken(tiny_project: Path) -> Iterator[MetricLoop]:
    break_east_app(tiny_project)
    ml = MetricLoop.open(tiny_project)
    yield ml
    ml.close()


def value(ml: MetricLoop, metric: str, start: dt.datetime, end: dt.datetime, **kw: object) -> dict[str, float]:
    """The metric per value of ``group_by`` (or the total under ``""``) straight from the engine."""
    group_by = list(kw.pop("group_by", []))  # type: ignore[call-overload]
    q = MetricQuery(metrics=[metric], group_by=group_by, start=start, end=end - dt.timedelta(hours=1), **kw)
    rows = ml.query(q).rows()
    return {str(r[group_by[0]]) if group_by else "": float(r[metric]) for r in rows}


def test_a_slice_that_broke_is_the_cause_with_its_own_numbers(broken: MetricLoop) -> None:
    result = broken.explain.explain("conversion_rate", start=START, end=END)
    assert result.baseline_start == START - dt.timedelta(days=7)
    assert result.actual == pytest.approx(value(broken, "conversion_rate", START, END)[""])
    assert result.expected == pytest.approx(value(broken, "conversion_rate", START - dt.timedelta(days=7),
                                                  END - dt.timedelta(days=7))[""])
    assert result.localization is not None
    top = result.top_causes(1)[0]
    assert top["slice"] == {"region": "华东", "channel": "app"}
    inside = value(broken, "conversion_rate", START, END, where="region = '华东' and channel = 'app'")[""]
    assert top["actual"] == pytest.approx(inside)  # a rate is shown as the rate, not its parts
    assert "region=华东&channel=app" in result.summary.render("en")  # type: ignore[union-attr]
    assert "主要原因" in result.summary.render("zh-CN")  # type: ignore[union-attr]


def test_additive_drill_down_adds_up_and_is_stored(broken: MetricLoop) -> None:
    result = broken.explain.explain("gmv", start=START, end=END, anomaly_fingerprint="fp-1")
    assert result.drilldown is not None and result.drilldown["additive"]
    for dim in result.drilldown["dimensions"]:
        assert sum(r["contribution"] for r in dim["rows"]) == pytest.approx(1.0)
    by_region = value(broken, "gmv", START, END, group_by=["region"])
    rows = {r["value"]: r for d in result.drilldown["dimensions"] if d["dimension"] == "region" for r in d["rows"]}
    assert {k: rows[k]["actual"] for k in by_region} == pytest.approx(by_region)
    assert result.id is not None
    stored = broken.explain.get(result.id)
    assert stored["id"] == result.id
    assert stored["drilldown"]["total_change"] == pytest.approx(result.drilldown["total_change"])
    assert broken.explain.for_anomaly("fp-1")["id"] == result.id  # type: ignore[index]
    assert broken.explain.for_anomaly("no-such") is None


def test_a_distinct_count_is_drilled_down_per_dimension_in_the_warehouse(tiny: MetricLoop) -> None:
    result = tiny.explain.explain("buyers", start=START, end=END)
    assert result.localization is None  # distinct buyers do not add up over slices
    assert result.drilldown is not None
    assert result.drilldown["kind"] == "non_additive" and not result.drilldown["additive"]
    assert {d["dimension"] for d in result.drilldown["dimensions"]} == {"region", "channel"}
    for dim in ("region", "channel"):
        now = value(tiny, "buyers", START, END, group_by=[dim])
        then = value(tiny, "buyers", START - dt.timedelta(days=7), END - dt.timedelta(days=7), group_by=[dim])
        rows = next(d["rows"] for d in result.drilldown["dimensions"] if d["dimension"] == dim)
        assert {r["value"]: (r["actual"], r["expected"]) for r in rows} == {k: (now[k], then[k]) for k in now}
    # a buyer counts in every value they bought in: the values' buyers exceed the total
    assert sum(now.values()) > result.actual  # type: ignore[operator]
    assert any("not additive" in n.en for n in result.notes)
    assert any("不可加" in n.zh for n in result.notes)


def test_dimensions_a_metric_filters_on_are_not_searched(tiny: MetricLoop) -> None:
    assert tiny.explain.default_dimensions(tiny.catalog.metric("gmv")) == ["region", "channel"]
    assert tiny.explain.default_dimensions(tiny.catalog.metric("app_gmv")) == ["region"]


def test_baselines_and_bad_periods(tiny: MetricLoop) -> None:
    r = tiny.explain.explain("gmv", at=dt.datetime(2026, 2, 10, 15), vs="previous_period", store=False)
    assert (r.start, r.end) == (dt.datetime(2026, 2, 10), dt.datetime(2026, 2, 11))
    assert r.baseline_start == dt.datetime(2026, 2, 9)
    assert r.id is None
    r = tiny.explain.explain("gmv", start=START, end=END, baseline=dt.datetime(2026, 1, 1), store=False)
    assert (r.baseline_start, r.baseline_end) == (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 8))
    with pytest.raises(QueryError, match="--vs"):
        tiny.explain.explain("gmv", at=START, vs="yesterday")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="after its start"):
        tiny.explain.explain("gmv", start=END, end=START)
    with pytest.raises(QueryError, match="--at"):
        tiny.explain.explain("gmv")


# ------------------------------------------------------------------ the command line


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "METRICLOOP_LOCALE": "en"}
    return subprocess.run([sys.executable, "-m", "metricloop", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_explain_json_and_table(tiny_project: Path) -> None:
    break_east_app(tiny_project)
    proc = cli("explain", "conversion_rate", "--start", "2026-01-20", "--end", "2026-01-27",
               "--project", str(tiny_project), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["localization"]["causes"][0]["slice"] == {"region": "华东", "channel": "app"}
    assert payload["baseline"]["start"].startswith("2026-01-13")
    proc = cli("explain", "buyers", "--at", "2026-01-20", "--project", str(tiny_project))
    assert proc.returncode == 0, proc.stderr
    assert "not additive" in proc.stdout or "不可加" in proc.stdout
    bad = cli("explain", "gmv", "--at", "next tuesday", "--project", str(tiny_project))
    assert bad.returncode != 0
    assert "--at" in bad.stdout + bad.stderr


# ------------------------------------------------------------------ other warehouses


def copy_to(src: Path, url: str, project: Path) -> None:
    con = duckdb.connect(str(src), read_only=True)
    engine = sa.create_engine(url)
    for table in ("orders", "traffic", "buyers"):
        con.execute(f"select * from {table}").df().to_sql(table, engine, index=False, if_exists="replace")
    con.close()
    engine.dispose()
    kind = "mysql" if url.startswith("mysql") else "postgres"
    cfg = project / "metricloop.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f"warehouse:\n  type: {kind}\n  url: '{url}'\n", encoding="utf-8")


def drill_rows(drill: dict[str, Any]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for d in drill["dimensions"]:
        for r in d["rows"]:
            out[(d["dimension"], r["value"])] = r["actual"]
            out[(d["dimension"], r["value"] + " expected")] = r["expected"]
    return out


def same_explanations(tmp_path: Path, url: str) -> None:
    reference_root = write_tiny_project(tmp_path / "duck")
    break_east_app(reference_root)
    other_root = write_tiny_project(tmp_path / "other")
    copy_to(reference_root / "warehouse.duckdb", url, other_root)
    reference, other = MetricLoop.open(reference_root), MetricLoop.open(other_root)
    try:
        for metric in ("conversion_rate", "gmv", "buyers"):
            want = reference.explain.explain(metric, start=START, end=END, store=False).to_dict()
            got = other.explain.explain(metric, start=START, end=END, store=False).to_dict()
            assert got["actual"] == pytest.approx(want["actual"])
            assert got["expected"] == pytest.approx(want["expected"])
            assert [c["element"] for c in (got["localization"] or {}).get("causes", [])] == [
                c["element"] for c in (want["localization"] or {}).get("causes", [])]
            assert drill_rows(got["drilldown"]) == pytest.approx(drill_rows(want["drilldown"]))
    finally:
        reference.close()
        other.close()




@pytest.mark.postgres
def test_postgres_explains_like_duckdb(tmp_path: Path, fresh_postgres_url: str) -> None:
    same_explanations(tmp_path, fresh_postgres_url)


@pytest.mark.mariadb
def test_mariadb_explains_like_duckdb(tmp_path: Path, mariadb_db: str) -> None:
    same_explanations(tmp_path, mariadb_db)
