"""The detection service on a real project (DuckDB warehouse, SQLite or PostgreSQL state store):
runs store events idempotently, late data and changed monitors never leave wrong anomalies,
feedback is kept and used, backtests store nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from metricloop.detect.service import DetectionService
from metricloop.errors import ConflictError, DefinitionError, NotFoundError
from metricloop.service import MetricLoop
from metricloop.store.detect_models import Anomaly, DetectionRun, MonitorRevision
from tests.detect.service_project import MONITOR, load, traffic, write_project

LAST = dt.datetime(2026, 2, 13, 23)  # data ends here (a Friday)
DROP = ("east", dt.datetime(2026, 2, 13, 10), dt.datetime(2026, 2, 13, 14))
AT = dt.datetime(2026, 2, 14, 1, 0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ml(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetricLoop]:
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgres" else None
    ml = MetricLoop.open(write_project(tmp_path / "proj", url))
    yield ml
    ml.close()


def _rows(ml: MetricLoop, model: type) -> list:
    with ml.store.session() as s:
        return list(s.scalars(sa.select(model)))


def test_a_run_finds_the_drop_and_rerunning_it_changes_nothing(ml: MetricLoop, tmp_path: Path) -> None:
    load(ml, traffic(LAST, drop=DROP), tmp_path)
    first = ml.detection.run(at=AT)
    assert not first.failed
    [event] = first.events
    assert event.slice == {"region": "east"}
    assert event.start == DROP[1] and event.end == DROP[2]
    assert event.severity == "critical" and event.change == "new"
    assert event.actual is not None and event.expected is not None and event.actual < 0.3 * event.expected
    assert event.lower is not None and event.upper is not None and event.lower < event.expected < event.upper
    assert event.reason is not None and "east" not in event.reason.en  # the reason describes values
    assert "低于" in event.reason.zh and "below" in event.reason.en
    assert first.alerts()[0].fingerprint == event.fingerprint  # ready for ml.workflow.process

    again = ml.detection.run(at=AT)
    assert again.events == []  # nothing new for the workflow
    assert [e.change for r in again.monitors for e in r.events] == ["unchanged"]
    [row] = _rows(ml, Anomaly)
    assert row.fingerprint == event.fingerprint and row.seen_count == 2 and row.state == "active"
    assert [r.status for r in _rows(ml, DetectionRun)] == ["ok", "ok"]
    assert ml.detection.anomaly(event.fingerprint[:8]).start == DROP[1]


def test_periods_not_yet_loaded_are_not_judged(ml: MetricLoop, tmp_path: Path) -> None:
    # data is loaded up to 09:00; at 14:00 the hours 10..13 are missing, not zero
    load(ml, traffic(dt.datetime(2026, 2, 13, 9)), tmp_path)
    report = ml.detection.run(at=dt.datetime(2026, 2, 13, 14, 0))
    [mon] = report.monitors
    assert mon.status == "ok" and mon.data_until == dt.datetime(2026, 2, 13, 9)
    assert mon.window_end == dt.datetime(2026, 2, 13, 8)  # the 09:00 bucket waits for the next one
    assert report.events == []
    # the rest lands: now those hours are judged, and still nothing is wrong
    load(ml, traffic(dt.datetime(2026, 2, 13, 20)), tmp_path)
    later = ml.detection.run(at=dt.datetime(2026, 2, 13, 21, 0))
    assert later.monitors[0].window_end == dt.datetime(2026, 2, 13, 19)
    assert later.events == []


def test_late_rows_retract_the_anomaly_they_caused(ml: MetricLoop, tmp_path: Path) -> None:
    full = traffic(LAST)
    late = (full["region"] == "east") & (full["hour"] >= dt.datetime(2026, 2, 13, 16))
    load(ml, full[~late], tmp_path)  # west is complete, east's last hours come later
    first = ml.detection.run(at=AT)
    [event] = first.events
    assert event.slice == {"region": "east"} and event.actual == 0.0  # a missing count looks like a drop
    load(ml, full[late], tmp_path, mode="append")
    second = ml.detection.run(at=AT)
    assert second.events == []
    assert second.monitors[0].retracted == [event.fingerprint]
    assert ml.detection.anomaly(event.fingerprint).state == "retracted"
    assert ml.detection.anomalies() == []


def test_a_changed_monitor_leaves_no_stale_anomaly(ml: MetricLoop, tmp_path: Path) -> None:
    load(ml, traffic(LAST, drop=DROP), tmp_path)
    [event] = ml.detection.run(at=AT).events
    path = ml.project.root / "monitors" / "sessions.yaml"
    path.write_text(MONITOR.replace("warning: 4, critical: 6", "warning: 40, critical: 60"), encoding="utf-8")
    report = ml.detection.run(at=AT)
    assert report.events == []
    assert ml.detection.anomaly(event.fingerprint).state in ("stale", "retracted")
    assert ml.detection.anomalies() == []
    revisions = [r.change for r in _rows(ml, MonitorRevision)]
    assert revisions == ["created", "changed"]
    # back to the first definition: the same event is found again, with the same fingerprint
    path.write_text(MONITOR, encoding="utf-8")
    [back] = ml.detection.run(at=AT).events
    assert back.fingerprint == event.fingerprint and back.state == "active"


def test_labels_are_kept_give_precision_and_feed_the_next_evaluation(ml: MetricLoop, tmp_path: Path) -> None:
    load(ml, traffic(LAST, drop=DROP), tmp_path)
    [event] = ml.detection.run(at=AT).events
    assert ml.detection.precision("sessions_by_region")["labelled"] == 0
    labelled = ml.detection.label(event.fingerprint, "false_alarm", note="test traffic", author="alice")
    assert labelled.label == "false_alarm"
    assert ml.detection.precision("sessions_by_region")["precision"] == 0.0
    ml.detection.label(event.fingerprint, "confirmed", author="bob")
    p = ml.detection.precision("sessions_by_region")
    assert p["labelled"] == 1 and p["confirmed"] == 1 and p["precision"] == 1.0
    assert [x["label"] for x in ml.detection.labels(event.fingerprint)] == ["false_alarm", "confirmed"]
    assert [e.fingerprint for e in ml.detection.anomalies(label="confirmed")] == [event.fingerprint]
    # "new normal": the baseline restarts at the event, so the next evaluation no longer flags it
    ml.detection.label(event.fingerprint, "new_normal")
    ml.detection.run(at=AT)
    assert ml.detection.anomalies() == []
    with pytest.raises(Exception, match="not one of"):
        ml.detection.label(event.fingerprint, "meh")
    with pytest.raises(NotFoundError):
        ml.detection.label("ffffffffffff", "confirmed")


def test_backtest_of_an_unsaved_monitor_is_chart_ready_and_stores_nothing(ml: MetricLoop, tmp_path: Path) -> None:
    load(ml, traffic(LAST, drop=DROP), tmp_path)
    draft = {"name": "draft", "metric": "sessions", "by": ["region"], "grain": "hour",
             "detectors": [{"type": "seasonal", "params": {"warning": 4, "critical": 6}}],
             "noise": {"consecutive": 2, "min_rel_deviation": 0.2}}
    chart = ml.detection.backtest(draft, "2026-02-09", "2026-02-13")
    # the end is capped at the last complete period: the 23:00 bucket waits for the next load
    assert chart["start"] == dt.datetime(2026, 2, 9) and chart["end"] == dt.datetime(2026, 2, 13, 22)
    labels = [s["label"] for s in chart["series"]]
    assert labels[0] == "total" and set(labels[1:]) == {"region=east", "region=west"}
    for s in chart["series"]:
        n = len(s["timestamps"])
        assert n == 5 * 24 - 1 and all(len(s[k]) == n for k in ("value", "expected", "lower", "upper", "severity"))
    # the total fires too; it tells the story, so the region's event is inhibited (kept, marked)
    active = [a for a in chart["anomalies"] if a["state"] == "active"]
    assert [(a["slice"], a["start"]) for a in active] == [({}, DROP[1])]
    [child] = [a for a in chart["anomalies"] if a["state"] == "suppressed"]
    assert child["slice"] == {"region": "east"} and child["suppressed_by"] == f"parent:{active[0]['fingerprint']}"
    assert chart["summary"] == {**chart["summary"], "events": 1, "suppressed": 1}
    assert _rows(ml, Anomaly) == [] and _rows(ml, DetectionRun) == []


def test_monitors_written_through_the_service_are_revisions(ml: MetricLoop) -> None:
    svc: DetectionService = ml.detection
    saved = svc.save_monitor("name: west_only\nmetric: sessions\nwhere: \"region = 'west'\"\ngrain: day\n",
                             author="carol", reason="watch west")
    assert saved.origin == "api"
    assert {m.name: m.origin for m in svc.monitors()} == {"sessions_by_region": "file", "west_only": "api"}
    svc.save_monitor({"name": "west_only", "metric": "sessions", "grain": "hour"})
    assert [h["change"] for h in svc.monitor_history("west_only")] == ["created", "changed"]
    assert svc.monitor("west_only").spec.grain.value == "hour"
    with pytest.raises(ConflictError, match="monitors/sessions.yaml"):
        svc.save_monitor({"name": "sessions_by_region", "metric": "sessions"})
    with pytest.raises(DefinitionError, match="no dimension 'country'"):
        svc.save_monitor({"name": "bad", "metric": "sessions", "by": ["country"]})
    svc.delete_monitor("west_only")
    assert [m.name for m in svc.monitors()] == ["sessions_by_region"]


def test_a_failing_monitor_is_reported_and_the_others_run(ml: MetricLoop, tmp_path: Path) -> None:
    load(ml, traffic(LAST, drop=DROP), tmp_path)
    (ml.project.root / "models" / "ghost.yaml").write_text(
        "semantic_models:\n  - name: ghost\n    table: no_such_table\n    defaults: {agg_time_dimension: t}\n"
        "    dimensions:\n      - {name: t, type: time, type_params: {time_granularity: hour}}\n"
        "    measures:\n      - {name: ghost_count, agg: count, expr: t}\n"
        "metrics:\n  - {name: ghosts, measure: ghost_count}\n", encoding="utf-8")
    ml.reload()
    ml.detection.save_monitor({"name": "broken", "metric": "ghosts", "grain": "hour"})
    report = ml.detection.run(at=AT)
    assert {r.monitor: r.status for r in report.monitors} == {"broken": "failed", "sessions_by_region": "ok"}
    assert "no_such_table" in (report.failed[0].detail or "")
    assert len(report.events) == 1
    assert {r.status for r in _rows(ml, DetectionRun)} == {"failed", "ok"}
