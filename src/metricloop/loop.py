"""One pass of the loop, and a replay of history.

    detect → explain → group into incidents → notify (outbox) → timers

Exactly once, resumable: detection stores anomalies; the workflow opens (or joins, or records
why not) their incidents and marks them handled in ONE transaction, together with the outbox
rows of their messages. Each pass feeds the workflow every *pending* anomaly (active, not yet
handled: :meth:`~metricloop.detect.service.DetectionService.pending`), not only what its own
detection found, so a pass that died after detection (``kill -9``, a dropped database
connection, an owners.yaml error) loses nothing: the next pass picks up exactly what is pending,
and what was handled is never handled again.

:func:`run_pass` is what ``metricloop run`` and the scheduler execute. :func:`backfill` judges a
whole stretch of history once and then replays it in time order, so incidents, their timers
and their messages happen when they would have happened live. The demo's people (owners who
acknowledge, fix, verify and review) are in :mod:`metricloop.demo.story`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricloop.catalog.models import Grain
from metricloop.engine.compiler import shift_by
from metricloop.errors import MetricLoopError

if TYPE_CHECKING:
    from metricloop.detect.service import AnomalyRecord
    from metricloop.service import MetricLoop
    from metricloop.workflow.grouping import AlertInput

log = logging.getLogger(__name__)
Progress = Callable[[str, float], None]
MAX_EXPLAIN = 200  # explanations per pass: a flood of anomalies must not stall the loop


@dataclass
class PassSummary:
    """What one pass did, for the CLI, the API and ``/metrics``."""

    at: dt.datetime
    monitors: int = 0
    failed_monitors: list[str] = field(default_factory=list)
    anomalies: int = 0
    resumed: int = 0  # pending anomalies an earlier, interrupted pass had stored but not handled
    explained: int = 0
    incidents_opened: int = 0
    alerts_grouped: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    timers_fired: int = 0
    # "channel X: environment variable Y is not set (...)": messages waiting for that channel
    undeliverable: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in vars(self).items()}


def explain_event(ml: MetricLoop, event: AnomalyRecord) -> dict[str, Any] | None:
    """Explain one anomaly over its window against its monitor's baseline (a recent week it found
    normal, scaled to its expectation: :func:`~metricloop.explain.incident.explain_window`); store
    it with the event."""
    from metricloop.explain.incident import explain_window

    cached = ml.explain.for_anomaly(event.fingerprint)
    if cached is not None:
        return cached
    grain = Grain(event.grain) if event.grain in Grain.__members__ else Grain.hour
    try:
        result, baseline = explain_window(
            ml.explain, event.metric, {str(k): str(v) for k, v in event.slice.items()}, event.start, event.end,
            grain, deviations=[(event.actual, event.expected, event.impact)], anomaly_fingerprint=event.fingerprint)
    except MetricLoopError as exc:  # an explanation is a bonus; the alert goes out without it
        log.warning("cannot explain %s: %s", event.fingerprint, exc)
        return None
    return {**result.to_dict(), "baseline": baseline.to_dict()}


def _alert(ml: MetricLoop, event: AnomalyRecord, explanation: dict[str, Any] | None) -> AlertInput:
    from metricloop.explain.incident import incident_payload

    alert = event.alert()
    if not explanation:
        return alert
    payload = incident_payload(explanation, {str(k): str(v) for k, v in event.slice.items()},
                               start=event.start, end=event.end, grain=event.grain)
    return replace(alert, explanation=payload)


def run_pass(
    ml: MetricLoop,
    now: dt.datetime | None = None,
    *,
    monitor: str | None = None,
    explain: bool = True,
    notify: bool = True,
) -> PassSummary:
    """detect → explain → incidents → outbox → dispatch → timers, at ``now`` (default: now)."""
    import time

    t0 = time.perf_counter()
    report = ml.detection.run(monitor=monitor, at=now)
    at = report.at if isinstance(report.at, dt.datetime) else dt.datetime.now()
    summary = PassSummary(
        at=at,
        monitors=len(report.monitors),
        failed_monitors=[m.monitor for m in report.monitors if m.status == "failed"],
    )
    events = ml.detection.pending(monitor)
    found = {e.fingerprint for e in report.events}
    summary.anomalies = len(events)
    summary.resumed = sum(e.fingerprint not in found for e in events)
    alerts = []
    for i, event in enumerate(events):
        explanation = explain_event(ml, event) if explain and i < MAX_EXPLAIN else None
        summary.explained += explanation is not None
        alerts.append(_alert(ml, event, explanation))
    _workflow_step(ml, alerts, now, summary, notify, explain=explain)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def _workflow_step(
    ml: MetricLoop, alerts: Sequence[AlertInput], now: dt.datetime | None, summary: PassSummary, notify: bool,
    *, explain: bool = True,
) -> None:
    if alerts:
        pr = ml.workflow.process(list(alerts), now=now, pending_only=True)
        summary.incidents_opened += len(pr.opened)
        summary.alerts_grouped += pr.new_alerts
        if explain:  # after the exactly-once transaction, writing only the incidents' explanations
            from metricloop.explain.incident import refresh_incidents

            touched, fps = [*pr.opened, *pr.updated], [a.fingerprint for a in alerts]
            refresh_incidents(ml.explain, touched, fps)
            # the cause named over the whole window decides the owner while nobody has acted
            ml.workflow.route_by_cause(touched, fps, now=now)
    # timers before dispatch: what they queue (escalations, incidents a silence released) goes out
    # in this pass, not an interval later
    tr = ml.workflow.tick(now=now)
    summary.timers_fired += sum(tr.fired.values())
    summary.incidents_opened += len(tr.opened)  # alerts held by a silence that ended, now incidents
    if notify:
        dr = ml.workflow.dispatch(now=now)
        summary.messages_sent += dr.delivered
        summary.messages_failed += dr.dead + dr.undeliverable
        for name, why in dr.unconfigured.items():
            line = f"channel {name}: {why}"
            if line not in summary.undeliverable:
                summary.undeliverable.append(line)


def backfill(
    ml: MetricLoop, start: dt.datetime, end: dt.datetime, *, progress: Progress | None = None, notify: bool = True
) -> PassSummary:
    """Judge ``start``..``end`` in one detection pass, then replay the pending events in time order.

    Rerun after an interruption, it resumes: the deadlines due where the interrupted run had got
    to fire first (as they would have), then only the anomalies still pending are replayed.
    """
    import time

    t0 = time.perf_counter()
    step = progress or (lambda _s, _f: None)
    step("detecting anomalies in history", 0.0)
    report = ml.detection.run(at=end, since=start)
    found = {e.fingerprint for e in report.events}
    events = ml.detection.pending()
    summary = PassSummary(
        at=end,
        monitors=len(report.monitors),
        failed_monitors=[m.monitor for m in report.monitors if m.status == "failed"],
        anomalies=len(events),
        resumed=sum(e.fingerprint not in found for e in events),
    )
    reached = ml.detection.last_handled(start)
    if reached is not None and reached <= end:
        _workflow_step(ml, [], reached, summary, notify)
    by_time: dict[dt.datetime, list[AnomalyRecord]] = {}
    for e in events:
        grain = Grain(e.grain) if e.grain in Grain.__members__ else Grain.hour
        seen_at = shift_by(e.end, 1, grain) + dt.timedelta(minutes=10)  # when a live pass would have fired
        by_time.setdefault(seen_at, []).append(e)
    for i, (seen_at, batch) in enumerate(sorted(by_time.items())):
        step("explaining and opening incidents", 0.3 + 0.7 * i / max(len(by_time), 1))
        alerts = []
        for e in batch:
            explanation = explain_event(ml, e) if summary.explained < MAX_EXPLAIN else None
            summary.explained += explanation is not None
            alerts.append(_alert(ml, e, explanation))
        _workflow_step(ml, alerts, seen_at, summary, notify)
    if by_time and reached is not None and reached <= end and max(by_time) < reached:
        # what was still pending lay before where the interrupted run had got to: the deadlines
        # of the incidents it opened fall due up to there, as they did for the others
        _workflow_step(ml, [], reached, summary, notify)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def write_summary(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
