"""Incidents carry their explanation: over the whole window as it grows, with history (real DuckDB, real store)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from metricloop.explain.incident import incident_payload, refresh_incidents, with_history
from metricloop.service import MetricLoop
from metricloop.store.workflow_models import Incident
from metricloop.workflow.grouping import AlertInput

START = dt.datetime(2026, 1, 20)


@pytest.fixture
def broken(tiny_project: Path) -> Iterator[MetricLoop]:
    """Four in five orders of 华东 × app vanish for a week from START."""
    con = duckdb.connect(str(tiny_project / "warehouse.duckdb"))
    con.execute("delete from orders where order_time >= ? and order_time < ? and region = '华东' "
                "and channel = 'app' and order_id % 5 <> 0", [START, START + dt.timedelta(days=7)])
    con.close()
    ml = MetricLoop.open(tiny_project)
    yield ml
    ml.close()


def _alert(ml: MetricLoop, fp: str, start: dt.datetime, end: dt.datetime) -> AlertInput:
    """An alert of the total monitor (no slice), explained over its own window as the loop does."""
    result = ml.explain.explain("orders", start=start, end=end + dt.timedelta(hours=1), store=False)
    payload = incident_payload(result.to_dict(), {}, start=start, end=end, grain="hour")
    return AlertInput(fingerprint=fp, monitor="orders_total", metric="orders", slice={}, start=start,
                      end=end, severity="critical", actual=1.0, expected=2.0, explanation=payload)


def test_a_growing_incident_is_re_explained_over_its_window_and_keeps_history(broken: MetricLoop) -> None:
    first_end = START + dt.timedelta(hours=3)
    report = broken.workflow.process([_alert(broken, "a1", START, first_end)], now=first_end)
    (incident_id,) = report.opened
    assert refresh_incidents(broken.explain, [incident_id]) == 0  # its window is the alert's: nothing to redo
    with broken.store.session() as s:
        opened = s.get(Incident, incident_id)
        assert opened is not None and opened.explanation is not None
        # four hours of a few orders: nothing significant yet, the drill-down's leaders are stored as such
        assert opened.explanation["kind"] == "leading_slices"

    later = START + dt.timedelta(hours=23)
    report = broken.workflow.process([_alert(broken, "a2", first_end + dt.timedelta(hours=1), later)], now=later)
    assert incident_id in report.updated
    assert refresh_incidents(broken.explain, [incident_id]) == 1
    with broken.store.session() as s:
        stored = s.get(Incident, incident_id)
        assert stored is not None
        explanation = dict(stored.explanation or {})
    assert explanation["window"] == {"start": START.isoformat(), "end": later.isoformat()}
    # over the whole day the total monitor's incident names the 2-D slice localization found
    assert explanation["kind"] == "causes"
    assert explanation["slices"][0] == {"region": "华东", "channel": "app"}
    assert explanation["keys"][0] == "region=华东&channel=app"
    history = explanation["history"]
    assert len(history) == 1 and history[0]["window"]["end"] == first_end.isoformat()
    assert history[0]["kind"] == "leading_slices"
    assert refresh_incidents(broken.explain, [incident_id]) == 0  # unchanged window: no new history entry


def test_without_a_significant_slice_the_drill_downs_leaders_are_stored_and_said_so() -> None:
    explanation = {
        "id": 7, "summary": None, "localization": {"causes": []},
        "drilldown": {"dimensions": [
            {"dimension": "platform", "rows": [
                {"dimension": "platform", "value": "app", "contribution": 1.02, "relative_change": -0.55},
                {"dimension": "platform", "value": "web", "contribution": -0.02, "relative_change": 0.01},
            ]},
            {"dimension": "cuisine", "rows": [
                {"dimension": "cuisine", "value": "(other)", "contribution": 0.9, "is_other": True},
                {"dimension": "cuisine", "value": "面食", "contribution": 0.4, "relative_change": -0.3},
            ]},
        ]},
    }
    t0 = dt.datetime(2026, 3, 1, 10)
    payload = incident_payload(explanation, {"city": "南京"}, start=t0, end=t0, grain="hour", top=2)
    assert payload["kind"] == "leading_slices"
    assert payload["slices"] == [{"city": "南京", "platform": "app"}, {"city": "南京", "cuisine": "面食"}]
    assert payload["contributions"] == [1.02, 0.4]
    assert payload["causes"][0]["en"].startswith("leading slice: city=南京&platform=app -55%")
    assert "102%" in payload["causes"][0]["en"]
    empty = incident_payload({"localization": None, "drilldown": None}, {}, start=t0, end=t0, grain="hour")
    assert empty["kind"] == "none" and empty["causes"] == []


def test_history_keeps_every_earlier_explanation_newest_last() -> None:
    a = {"window": {"end": "1"}, "history": []}
    b = with_history({"window": {"end": "2"}}, a)
    c = with_history({"window": {"end": "3"}}, b)
    assert [h["window"]["end"] for h in c["history"]] == ["1", "2"]
    assert all("history" not in h for h in c["history"])
