"""The loop's judgement end to end on a small food-delivery company (real DuckDB, real state store):
1-D city monitors find a 2-D cause, one outage moving three related metrics is one incident named
by the root metric, and it goes to the owner of the cause, saying why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from metricloop import loop
from metricloop.service import MetricLoop
from metricloop.store.detect_models import Anomaly
from tests.workflow.judgement_project import CAUSE, ECHO, OUTAGE, write_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("judgement") / "p")


def _copy(project: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(project, tmp_path / "p"))


def test_one_outage_under_1d_monitors_is_one_incident_with_its_2d_cause_and_owner(project: Path,
                                                                                    tmp_path: Path) -> None:
    ml = MetricLoop.open(_copy(project, tmp_path))
    try:
        loop.backfill(ml, OUTAGE[0] - dt.timedelta(days=1), OUTAGE[1] + dt.timedelta(hours=6), notify=False)
        (summary,) = ml.workflow.list_incidents()
        inc = ml.workflow.incident(summary["id"])
        # three monitors (gmv, orders, conversion by city) fired on 南京: one incident, the root metric first
        assert {a["metric"] for a in inc["alerts"]} == {"gmv", "orders", "conversion"}
        assert inc["metric"] == "conversion" and inc["metrics"][0] == "conversion"
        assert sorted(inc["metrics"]) == ["conversion", "gmv", "orders"]
        assert inc["slice"] == {"city": "南京"}
        # no monitor watches city × cuisine: localization under the city monitor names that slice
        assert inc["cause"] == CAUSE
        # owners.yaml lists the cuisine rule first: the cause's owner gets it, and the incident says why
        assert inc["owner"] == "chuan"
        assert inc["routing"]["by"] == "cause"
        assert inc["routing"]["reason"]["en"].startswith("the cause city=南京&cuisine=川菜 matches rules[0]")
        assert inc["routing"]["reason"]["zh-CN"].startswith("原因切片 city=南京&cuisine=川菜")
        # the API's and the UI's incident detail carry the same, the reason in the reader's language
        from metricloop.views.incidents import detail

        shown = detail(ml, inc, "zh-CN")
        assert (shown.metrics[0], shown.cause, shown.owner) == ("conversion", CAUSE, "chuan")
        assert shown.routing_reason is not None and shown.routing_reason.startswith("原因切片 city=南京&cuisine=川菜")
        # every anomaly was handled once, into that incident
        with ml.store.session() as s:
            decisions = {a.decision for a in s.query(Anomaly).filter(Anomaly.state == "active")}
        assert decisions == {summary["id"]}
    finally:
        ml.close()


def test_hourly_passes_keep_one_incident_and_hand_it_to_the_cause_owner_once_it_is_clear(
        project: Path, tmp_path: Path) -> None:
    ml = MetricLoop.open(_copy(project, tmp_path))
    try:
        hours = int((OUTAGE[1] - OUTAGE[0]) / dt.timedelta(hours=1))
        for h in range(2, hours + 1):
            loop.run_pass(ml, OUTAGE[0] + dt.timedelta(hours=h, minutes=10), notify=False)
        (summary,) = ml.workflow.list_incidents()
        inc = ml.workflow.incident(summary["id"])
        # alerts of three metrics came pass by pass (gmv twice, with a gap): one incident, the root's
        assert inc["metric"] == "conversion" and inc["metrics"][0] == "conversion"
        assert sorted(inc["metrics"]) == ["conversion", "gmv", "orders"]
        assert inc["cause"] == CAUSE and inc["owner"] == "chuan"
        explanation = ml.workflow.incident(summary["id"])
        assert explanation["explanation"]["window"]["end"] == (OUTAGE[1] - dt.timedelta(hours=1)).isoformat()
        assert explanation["explanation"]["history"]  # re-explained as it grew
        assert explanation["explanation"]["baseline"]["weeks_back"] == 1
    finally:
        ml.close()


def test_the_incident_is_explained_against_a_week_its_monitors_found_normal(tmp_path: Path) -> None:
    root = write_project(tmp_path / "echo", metrics=("orders",), echo=True)
    ml = MetricLoop.open(root)
    try:
        loop.backfill(ml, OUTAGE[0] - dt.timedelta(days=8), OUTAGE[1] + dt.timedelta(hours=6), notify=False)
        incidents = sorted(ml.workflow.list_incidents(), key=lambda i: i["window_start"])
        assert len(incidents) == 2  # last week's 面食 drop, then this week's 川菜 outage
        last_week, now = (ml.workflow.incident(i["id"]) for i in incidents)
        assert last_week["cause"] == ECHO
        baseline = now["explanation"]["baseline"]
        # last week's window held an anomaly: the baseline is two weeks back, scaled to the monitor's expectation
        assert baseline["weeks_back"] == 2 and baseline["source"] == "monitor"
        assert now["cause"] == CAUSE
        assert now["explanation"]["slices"] == [CAUSE]  # 面食 does not show up as a "rise" against last week
    finally:
        ml.close()


def test_an_untouched_incident_goes_to_the_cause_owner_once_its_explanation_names_the_cause(
        project: Path, tmp_path: Path) -> None:
    from metricloop.explain.incident import refresh_incidents
    from metricloop.workflow.grouping import AlertInput

    ml = MetricLoop.open(_copy(project, tmp_path))
    try:
        last = OUTAGE[1] - dt.timedelta(hours=1)
        # an alert that arrived without an explanation: routed by its slice (the 南京 rule)
        bare = AlertInput(fingerprint="o1", monitor="orders_by_city", metric="orders", slice={"city": "南京"},
                          start=OUTAGE[0], end=last, severity="critical", actual=50.0, expected=250.0, impact=2000.0)
        (incident_id,) = ml.workflow.process([bare], now=OUTAGE[1]).opened
        assert ml.workflow.incident(incident_id)["owner"] == "nj"
        assert ml.workflow.incident(incident_id)["routing"]["by"] == "slice"
        assert refresh_incidents(ml.explain, [incident_id]) == 1  # the window's explanation names 川菜
        assert ml.workflow.route_by_cause([incident_id], now=OUTAGE[1]) == [incident_id]
        inc = ml.workflow.incident(incident_id)
        assert (inc["owner"], inc["cause"], inc["routing"]["by"]) == ("chuan", CAUSE, "cause")
        moved = [e for e in inc["audit"] if e["kind"] == "assign"]
        assert moved[-1]["actor"] == "system" and moved[-1]["before"]["owner"] == "nj"
        assert ml.workflow.route_by_cause([incident_id], now=OUTAGE[1]) == []  # already there
        # once a person has assigned it, the loop leaves the owner alone
        ml.workflow.assign(incident_id, "gu", actor="nj", now=OUTAGE[1])
        assert ml.workflow.route_by_cause([incident_id], now=OUTAGE[1]) == []
        assert ml.workflow.incident(incident_id)["routing"]["by"] == "person"
    finally:
        ml.close()
