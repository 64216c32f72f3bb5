"""How well a project's monitors find known incidents: recall and false alarms over a backtest.

Used on the demo company (``DIR/data/ground_truth.json`` lists the injected incidents) and
usable on any project with a list of past incidents. The rules:

* an incident is **detected** when an active event of one of its metrics overlaps its window
  (an event covers ``[start, end + one period)``) on the incident's slice or a parent of it
  (a subset of its dimensions, or a coarser dimension implied by one: region by province);
* a **false alarm** is an active event that overlaps no incident window at all (any metric);
  ``unmatched`` also counts events inside a window that match none of its metrics/slices;
* rates are per 30-day month of the evaluated range.

``score_events`` is pure; ``evaluate_project`` runs every monitor as a backtest first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metricloop.catalog.models import Grain
from metricloop.detect.series import shift_period
from metricloop.errors import MetricLoopError

if TYPE_CHECKING:
    from metricloop.detect.service import AnomalyRecord, DetectionService


@dataclass(frozen=True)
class KnownIncident:
    """A past incident: when, where (slices) and which metrics it moved."""

    id: str
    start: dt.datetime  # inclusive, project wall clock
    end: dt.datetime  # exclusive
    metrics: tuple[str, ...]
    slices: tuple[Mapping[str, str], ...]


def load_ground_truth(path: str | Path) -> list[KnownIncident]:
    """Incidents of a ``ground_truth.json`` written by the demo generator."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for inc in data["incidents"]:
        slices = [dict(s) for s in inc.get("slices", [])]
        slices += [dict(s) for s in inc.get("measured_on", {}).values() if dict(s) not in slices]
        out.append(KnownIncident(
            id=inc["id"],
            start=dt.datetime.fromisoformat(inc["start"]),
            end=dt.datetime.fromisoformat(inc["end"]),
            metrics=tuple(inc["metrics"]),
            slices=tuple(slices),
        ))
    return out


@dataclass
class IncidentResult:
    id: str
    detected: bool
    first_event: dt.datetime | None = None  # start of the earliest matching event
    delay_hours: float | None = None  # end of that event's first period − incident start
    monitors: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    """Recall over the incidents in range, false alarms per month, per monitor and per incident."""

    start: dt.datetime
    end: dt.datetime
    incidents: list[IncidentResult]
    events: int
    false_alarms: int
    unmatched: int
    per_monitor: dict[str, dict[str, int]]

    @property
    def months(self) -> float:
        return max((self.end - self.start).total_seconds() / (30 * 86400), 1e-9)

    @property
    def recall(self) -> float | None:
        return None if not self.incidents else sum(i.detected for i in self.incidents) / len(self.incidents)

    @property
    def false_alarms_per_month(self) -> float:
        return self.false_alarms / self.months

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "incidents": len(self.incidents),
            "detected": sum(i.detected for i in self.incidents),
            "recall": self.recall,
            "events": self.events,
            "false_alarms": self.false_alarms,
            "false_alarms_per_month": round(self.false_alarms_per_month, 2),
            "unmatched": self.unmatched,
            "unmatched_per_month": round(self.unmatched / self.months, 2),
            "per_incident": [vars(i) for i in self.incidents],
            "per_monitor": self.per_monitor,
        }


def _covers(event_slice: Mapping[str, str], incident_slice: Mapping[str, str],
            rollups: Mapping[str, Mapping[str, Mapping[str, str]]]) -> bool:
    """True when the event's slice is the incident's slice or a parent of it."""
    implied = dict(incident_slice)
    for dim, value in incident_slice.items():
        implied.update({k: v for k, v in rollups.get(dim, {}).get(value, {}).items() if k not in implied})
    return all(implied.get(k) == v for k, v in event_slice.items())


def score_events(
    events: Sequence[AnomalyRecord],
    incidents: Sequence[KnownIncident],
    start: dt.datetime,
    end: dt.datetime,
    *,
    rollups: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
) -> Evaluation:
    """Match events to the incidents whose window lies in ``[start, end)``."""
    rollups = rollups or {}
    in_range = [i for i in incidents if i.start >= start and i.end <= end]
    active = [e for e in events if e.state == "active"]
    spans = [(e, e.start, shift_period(e.end, Grain(e.grain), 1)) for e in active]
    results = []
    matched: set[str] = set()
    for inc in in_range:
        hits = [
            (e, a) for e, a, b in spans
            if a < inc.end and b > inc.start and e.metric in inc.metrics
            and any(_covers(e.slice, s, rollups) for s in inc.slices)
        ]
        matched |= {e.fingerprint for e, _ in hits}
        if hits:
            first = min(a for _, a in hits)
            seen = min(shift_period(a, Grain(e.grain), 1) for e, a in hits)  # its first period is complete
            results.append(IncidentResult(inc.id, True, first, (seen - inc.start).total_seconds() / 3600,
                                          sorted({e.monitor for e, _ in hits})))
        else:
            results.append(IncidentResult(inc.id, False))
    windows = [(i.start, i.end) for i in incidents]
    per_monitor: dict[str, dict[str, int]] = {}
    false_alarms = unmatched = 0
    for e, a, b in spans:
        stats = per_monitor.setdefault(e.monitor, {"events": 0, "matched": 0, "false_alarms": 0})
        stats["events"] += 1
        outside = not any(a < w1 and b > w0 for w0, w1 in windows)
        if e.fingerprint in matched:
            stats["matched"] += 1
        else:
            unmatched += 1
        if outside:
            false_alarms += 1
            stats["false_alarms"] += 1
    return Evaluation(start, end, results, len(active), false_alarms, unmatched, per_monitor)


def evaluate_project(
    detection: DetectionService,
    incidents: Sequence[KnownIncident],
    start: dt.datetime | dt.date,
    end: dt.datetime | dt.date,
    *,
    monitors: Sequence[str] | None = None,
    implied: Sequence[tuple[str, str]] = (("province", "region"),),
) -> Evaluation:
    """Backtest the project's enabled monitors over ``[start, end)`` and score them.

    ``implied`` names (child, parent) dimension pairs whose mapping is read from the warehouse
    through the query engine, so that a region-level event counts for a province incident.
    ``detection``: the project's detection service (``ml.detection``).
    """
    from metricloop.engine.query import MetricQuery

    t0 = start if isinstance(start, dt.datetime) else dt.datetime(start.year, start.month, start.day)
    t1 = end if isinstance(end, dt.datetime) else dt.datetime(end.year, end.month, end.day)
    defs = [m for m in detection.monitors(include_disabled=False) if monitors is None or m.name in monitors]
    events: list[AnomalyRecord] = []
    for m in defs:
        events += detection.backtest_events(m.spec, t0, t1 - dt.timedelta(microseconds=1))
    rollups: dict[str, dict[str, dict[str, str]]] = {}
    metrics = {m.spec.metric for m in defs}
    for child, parent in implied:
        for metric in sorted(metrics):
            try:
                rows = detection.ctx.query(MetricQuery(metrics=[metric], group_by=[child, parent])).rows()
            except MetricLoopError:  # the metric lacks one of the dimensions: try the next
                continue
            for r in rows:
                rollups.setdefault(child, {}).setdefault(str(r[child]), {})[parent] = str(r[parent])
            break
    return score_events(events, incidents, t0, t1, rollups=rollups)
