"""The loop's API on a PostgreSQL state store: the demo replayed into PostgreSQL, then the board,
acting on an incident, a review into the case library, row scope and the scheduled dispatch.

Skipped without METRICLOOP_TEST_POSTGRES_URL (``.ci/run`` sets it)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.demo import SCALE, USERS, Demo, receivers

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
API = "/api/v1"
POSTGRES_URL = os.environ.get("METRICLOOP_TEST_POSTGRES_URL")


@pytest.fixture(scope="module")
def pg_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not POSTGRES_URL:
        pytest.skip("METRICLOOP_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    import metricloop.cli.loop_commands  # noqa: F401  (the replay step of `metricloop demo`)
    from metricloop import scaffold
    from metricloop.api import create_app
    from metricloop.cli.serve_commands import prepare_demo

    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as con:
        con.exec_driver_sql(f"create schema {schema}")
    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    root = tmp_path_factory.mktemp("pg") / "shop"
    scaffold.init_demo(root, scale=SCALE)
    with (root / "metricloop.yaml").open("a", encoding="utf-8") as f:
        f.write(f"state:\n  url: \"{url}\"\n")
    with receivers():
        ml, _ = prepare_demo(root, scale=SCALE)
    demo = Demo(root, ml)
    for username, spec in USERS.items():
        ml.access.create_user(username, **spec)
        demo.tokens[username] = ml.access.create_token(username, "tests")[0]
    demo.client = TestClient(create_app(ml, ui=False))
    try:
        yield demo
    finally:
        ml.close()
        with engine.begin() as con:
            con.exec_driver_sql(f"drop schema {schema} cascade")
        engine.dispose()


def _items(demo: Demo, path: str, user: str = "boss", **params: Any) -> list[dict[str, Any]]:
    r = demo.client.get(API + path, headers=demo.as_(user), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_the_replayed_loop_is_in_postgres(pg_demo: Demo) -> None:
    assert "postgresql" in pg_demo.ml.store.engine.url.drivername
    incidents = _items(pg_demo, "/incidents")
    assert incidents and {i["status"] for i in incidents} >= {"closed", "triggered"}
    board = pg_demo.client.get(f"{API}/incidents/board", headers=pg_demo.as_("boss")).json()
    assert sum(c["count"] for c in board["columns"][:-1]) == sum(
        1 for i in incidents if i["status"] not in ("closed", "false_positive", "duplicate"))
    assert _items(pg_demo, "/cases")


def test_act_review_and_case_library_on_postgres(pg_demo: Demo) -> None:
    h = pg_demo.as_("boss")
    ref = next(i for i in _items(pg_demo, "/incidents") if i["status"] == "triggered")["id"]
    for body in ({"action": "ack"}, {"action": "resolve", "comment": "回滚"}, {"action": "close"}):
        r = pg_demo.client.post(f"{API}/incidents/{ref}/act", headers=h, json=body)
        assert r.status_code == 200, r.text
    draft = pg_demo.client.post(f"{API}/reviews/{ref}", headers=h).json()
    for key in draft["missing"]:
        pg_demo.client.put(f"{API}/reviews/{ref}/sections/{key}", headers=h, json={"text": f"网关证书过期 {key}"})
    assert pg_demo.client.post(f"{API}/reviews/{ref}/complete", headers=h).json()["status"] == "completed"
    assert ref in [c["incident"] for c in _items(pg_demo, "/cases", q="证书")]


def test_row_scope_on_postgres(pg_demo: Demo) -> None:
    mine = _items(pg_demo, "/incidents", "east")
    assert {(i["slice"] or {}).get("region") for i in mine} <= {"华东"}
    assert {(a["slice"] or {}).get("region") for a in _items(pg_demo, "/anomalies", "east", state="all")} == {"华东"}
    other = next(i for i in _items(pg_demo, "/incidents") if (i["slice"] or {}).get("region") not in (None, "华东"))
    assert pg_demo.client.get(f"{API}/incidents/{other['id']}", headers=pg_demo.as_("east")).status_code == 404


def test_scheduled_jobs_claim_and_run_on_postgres(pg_demo: Demo) -> None:
    from metricloop.scheduler import registered_jobs
    from metricloop.scheduler.runner import Scheduler

    jobs = {j.name: j for j in registered_jobs(pg_demo.ml)}
    sched = Scheduler(pg_demo.ml, worker="pg", jobs=[jobs["outbox.dispatch"], jobs["workflow.timers"]])
    now = dt.datetime.now(dt.UTC)
    sched.sync_jobs(now - dt.timedelta(minutes=2))
    outcomes = sched.run_pending(now)
    assert {(o.job, o.status) for o in outcomes} == {("outbox.dispatch", "ok"), ("workflow.timers", "ok")}
    assert sched.run_pending(now) == []  # claimed once per due time
