"""``bench loop``: the whole loop judged end to end on a company with a known history.

The bench company (:mod:`metricloop.bench.loop_company`, a food-delivery platform) is written
to a temporary project, loaded, and its whole judged history replayed through the loop's own
public entry point (:func:`metricloop.loop.backfill`: detect → explain → incidents → owners).
The incidents the loop opened are then scored against the injected ground truth:

* an incident *matches* an injected event when its window overlaps the event's (from an hour
  before its start to 6 hours after its end), one of its metrics is a metric the event moves,
  and its slice does not contradict the event's slice (``city=南京`` matches an event on
  ``city=南京&platform=app`` and one on ``platform=app``, not one on ``city=上海``); each
  incident is counted for the matching event it overlaps most;
* recall: events reported by an incident — one counted for the event, or one counted for an
  overlapping event whose stored slices name this one too; detection delay: from the event's start
  to when a live hourly pass could first have opened its earliest matching incident (the first
  anomalous period of the incident's earliest alert, plus its monitor's ``consecutive`` periods
  and ``delay``), in hours, 0 when an incident already open for an overlapping event reports it.
  The replay's own opening times are not used: :func:`~metricloop.loop.backfill` judges history
  in one detection pass and opens an incident when its anomaly ended;
* false incidents: incidents matching no event, per judged month (and how many fall inside the
  quiet period, or are about a benign merchant-churn step, :func:`on_change`);
* explained: incidents whose stored explanation names causes or leading slices (``kind``);
* true slice rank: where the event's slice stands in the incident's stored slices (full slices:
  the incident's scope plus what was found below it); an incident whose own slice is the
  event's slice and that claims no deeper cause ranks 1. A scope narrower than the event in
  another dimension does not count: an app outage explained as ``city=上海&platform=app`` told
  the owner 上海, not the app;
* owner right: the incident's owner is the owner the responsibility table gives the event's
  root metric on its true slice;
* incidents per event: matching incidents counted for each found event (goal: exactly one).

The scoring functions are pure (records in, figures out) so they are tested on hand-built cases.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricloop.bench.loop_company import Change, Company, Truth

BEFORE = dt.timedelta(hours=1)  # an incident may start this long before the event (a noisy hour)
AFTER = dt.timedelta(hours=6)  # ... and this long after it ended (the recovery is judged too)
MONTH_DAYS = 30.44
HOUR = dt.timedelta(hours=1)
GOALS: dict[str, tuple[str, float]] = {
    "recall": (">=", 0.95),
    "false_per_month": ("<=", 1.0),
    "explained": (">=", 0.95),
    "slice_top3": (">=", 0.90),
    "owner_right": (">=", 1.0),
    "incidents_per_event": ("<=", 1.0),
}


@dataclass
class Observed:
    """One incident the loop opened, in the project's local time."""

    id: int
    metric: str
    metrics: list[str]  # the incident's metric and those of its alerts
    slice: dict[str, str]
    owner: str | None
    start: dt.datetime  # first anomalous period
    end: dt.datetime  # last anomalous period (its start)
    opened: dt.datetime  # when the replay opened it (backfill: when its first anomaly ended)
    kind: str  # explanation kind: causes | leading_slices | none | missing
    slices: list[dict[str, str]] = field(default_factory=list)  # the explanation's slices, best first
    monitors: list[str] = field(default_factory=list)
    # when a live pass could have opened it: its earliest alert's first anomalous period plus the
    # monitor's ``consecutive`` periods and ``delay`` (default: the end of the first anomalous hour)
    detectable: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "start": self.start.isoformat(), "end": self.end.isoformat(),
                "opened": self.opened.isoformat(),
                "detectable": self.detectable.isoformat() if self.detectable else None}

    @property
    def seen(self) -> dt.datetime:
        return self.detectable or self.start + HOUR


# ------------------------------------------------------------------------------------ scoring
def compatible(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """No dimension has different values in the two slices (they intersect)."""
    return all(b[k] == v for k, v in a.items() if k in b)


def overlap_hours(inc: Observed, truth: Truth) -> float:
    """Hours the incident's window (widened by the tolerances) shares with the event's, 0 when apart."""
    lo = max(inc.start, truth.start - BEFORE)
    hi = min(inc.end + dt.timedelta(hours=1), truth.end + AFTER)
    return max((hi - lo).total_seconds() / 3600, 0.0)


def matches(inc: Observed, truth: Truth) -> bool:
    """The incident reports this event: overlapping windows, a metric the event moves, a compatible slice."""
    return (overlap_hours(inc, truth) > 0 and any(m in truth.metrics for m in inc.metrics)
            and compatible(inc.slice, truth.slice))


def assign(incidents: Sequence[Observed], truths: Sequence[Truth]) -> dict[int, str | None]:
    """Incident id -> the id of the matching event it overlaps most (None: a false incident)."""
    out: dict[int, str | None] = {}
    for inc in incidents:
        best = max((t for t in truths if matches(inc, t)),
                   key=lambda t: (overlap_hours(inc, t), -t.start.timestamp()), default=None)
        out[inc.id] = best.id if best else None
    return out


def slice_rank(inc: Observed, truth: Truth) -> int | None:
    """1-based rank of the event's slice among the incident's stored slices; None when absent."""
    if inc.slice == truth.slice and inc.kind != "causes":
        return 1
    for i, s in enumerate(inc.slices, start=1):
        if s == truth.slice:
            return i
    return None


def _share(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def on_change(inc: Observed, changes: Sequence[Change]) -> bool:
    """The incident is about a benign step (a chain joining or leaving): its slice or its first
    stored slice is that city × cuisine, within four weeks of the step."""
    names = [inc.slice, *inc.slices[:1]]
    return any(
        ch.day <= inc.start.date() < ch.day + dt.timedelta(days=28)
        and any(n.get("city") == ch.city and n.get("cuisine") == ch.cuisine for n in names)
        for ch in changes
    )


def score(incidents: Sequence[Observed], truths: Sequence[Truth], *, judged_from: dt.datetime,
          end: dt.datetime, quiet: tuple[dt.datetime, dt.datetime] | None = None,
          changes: Sequence[Change] = ()) -> dict[str, Any]:
    """The bench's figures for one run (pure)."""
    best = assign(incidents, truths)
    by_id = {t.id: t for t in truths}
    months = (end - judged_from).total_seconds() / 86400 / MONTH_DAYS
    events: list[dict[str, Any]] = []
    for t in truths:
        own = [i for i in incidents if best[i.id] == t.id]
        # reported: an incident counted for it, or one counted for an overlapping event whose
        # stored slices name it (a total incident that merged two events and names only the
        # other one's slice did not tell anybody about this one)
        found = [i for i in incidents if matches(i, t) and (best[i.id] == t.id or slice_rank(i, t) is not None)]
        first = min(found, key=lambda i: i.seen, default=None)
        events.append({
            "id": t.id, "kind": t.kind, "tags": t.tags, "slice": t.slice, "metrics": t.metrics,
            "start": t.start.isoformat(), "hours": round((t.end - t.start).total_seconds() / 3600),
            "owner": t.owner, "found": bool(found),
            "delay_h": round(max((first.seen - t.start).total_seconds() / 3600, 0.0), 2) if first else None,
            "incidents": len(own),
            "incident_metrics": sorted({i.metric for i in own}),
            "owners": sorted({i.owner or "-" for i in own}),
            "incident_owners": [i.owner or "-" for i in own],
            "ranks": [slice_rank(i, t) for i in own],
        })
    matched = [i for i in incidents if best[i.id] is not None]
    false = [i for i in incidents if best[i.id] is None]
    ranks = [slice_rank(i, by_id[str(best[i.id])]) for i in matched]
    found_events = [e for e in events if e["found"]]
    delays = [float(e["delay_h"]) for e in found_events if e["delay_h"] is not None]
    in_quiet = [i for i in false if quiet and quiet[0] <= i.start < quiet[1]]
    per_event = [e["incidents"] for e in found_events if e["incidents"]]
    return {
        "events": len(truths),
        "found": len(found_events),
        "recall": _share([e["found"] for e in events]),
        "delay_median_h": round(statistics.median(delays), 2) if delays else None,
        "delay_max_h": round(max(delays), 2) if delays else None,
        "incidents": len(incidents),
        "true_incidents": len(matched),
        "false_incidents": len(false),
        "months": round(months, 2),
        "false_per_month": round(len(false) / months, 2) if months > 0 else None,
        "false_in_quiet": len(in_quiet),
        "false_on_changes": sum(on_change(i, changes) for i in false),
        "explained": _share([i.kind in ("causes", "leading_slices") for i in incidents]),
        "localized": _share([i.kind == "causes" for i in incidents]),
        "slice_top1": _share([r == 1 for r in ranks]),
        "slice_top3": _share([r is not None and r <= 3 for r in ranks]),
        "owner_right": _share([i.owner == by_id[str(best[i.id])].owner for i in matched]),
        "incidents_per_event": round(sum(per_event) / len(per_event), 2) if per_event else None,
        "events_with_one_incident": _share([e["incidents"] == 1 for e in found_events]),
        "by_tag": by_tag(events),
        "per_event": events,
        "false": [i.to_dict() for i in false],
    }


def by_tag(events: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per incident tag (1d, 2d, ratio, overlap, outage, ...): events found, the true slice in the
    top 3 and the owner right, over the incidents counted for those events."""
    out: dict[str, dict[str, Any]] = {}
    for tag in sorted({t for e in events for t in e["tags"]}):
        mine = [e for e in events if tag in e["tags"]]
        ranks = [r for e in mine for r in e["ranks"]]
        owners = [o == e["owner"] for e in mine for o in e["incident_owners"]]
        out[tag] = {"events": len(mine), "found": sum(bool(e["found"]) for e in mine),
                    "slice_top3": _share([r is not None and r <= 3 for r in ranks]),
                    "owner_right": _share(owners)}
    return out


def goal_met(name: str, value: float | None) -> bool | None:
    if name not in GOALS or value is None:
        return None
    op, target = GOALS[name]
    return value >= target if op == ">=" else value <= target


# ------------------------------------------------------------------------------- the run
def build(folder: Path, *, seed: int, months: float, small: bool, monitors: str | None = None) -> Company:
    """Generate the company, write its project into ``folder`` and load its facts."""
    from metricloop.bench.loop_company import generate, write_project
    from metricloop.service import MetricLoop

    company = generate(seed=seed, months=months, small=small)
    files = write_project(company, folder, monitors=monitors)
    ml = MetricLoop.open(folder)
    try:
        ml.ingest(str(files["data"]), "delivery_hourly", mode="replace")
        ml.validate()
        ml.sync_catalog(reason="bench loop company")
    finally:
        ml.close()
    return company


def observe(ml: Any) -> tuple[list[Observed], list[Observed]]:
    """Every incident in the project's store (with its alerts' metrics and its explanation), and,
    as the baseline, every active alert as if it were its own incident: its own window, its own
    explanation (over the alert's window) and the owner the responsibility table gives its own
    metric and slice — what an alerting system without the loop's incidents would send."""
    import sqlalchemy as sa

    from metricloop.bench.loop_company import owner_for
    from metricloop.engine.compiler import shift_by
    from metricloop.store.workflow_models import Incident, IncidentAlert

    tz = ml.project.tz
    specs = {m.name: m.spec for m in ml.detection.monitors()}

    def local(t: dt.datetime) -> dt.datetime:
        aware = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
        return aware.astimezone(tz).replace(tzinfo=None)

    def detectable(a: Any) -> dt.datetime:
        spec = specs.get(a.monitor)
        if spec is None:
            return local(a.start) + HOUR
        return shift_by(local(a.start), spec.noise.consecutive, spec.grain) + spec.delay

    def explained(payload: Mapping[str, Any] | None) -> tuple[str, list[dict[str, str]]]:
        exp = payload or {}
        return (str(exp.get("kind") or ("none" if exp else "missing")),
                [{str(k): str(v) for k, v in sl.items()} for sl in exp.get("slices") or []])

    incidents, alerts = [], []
    with ml.store.session() as s:
        for inc in s.scalars(sa.select(Incident).order_by(Incident.id)):
            rows = list(s.scalars(sa.select(IncidentAlert).where(IncidentAlert.incident_id == inc.id)))
            kind, slices = explained(inc.explanation)
            incidents.append(Observed(
                id=inc.id, metric=inc.metric,
                metrics=sorted({inc.metric, *(a.metric for a in rows)}),
                slice={str(k): str(v) for k, v in (inc.slice or {}).items()},
                owner=inc.owner, start=local(inc.window_start), end=local(inc.window_end),
                opened=local(inc.triggered_at), kind=kind, slices=slices,
                monitors=sorted({a.monitor for a in rows}),
                detectable=min((detectable(a) for a in rows), default=None),
            ))
        for a in s.scalars(sa.select(IncidentAlert).where(IncidentAlert.state == "active")
                           .order_by(IncidentAlert.id)):
            kind, slices = explained(a.explanation)
            where = {str(k): str(v) for k, v in (a.slice or {}).items()}
            alerts.append(Observed(
                id=a.id, metric=a.metric, metrics=[a.metric], slice=where, owner=owner_for(a.metric, where),
                start=local(a.start), end=local(a.end), opened=local(a.first_seen), kind=kind, slices=slices,
                monitors=[a.monitor], detectable=detectable(a),
            ))
    return incidents, alerts


def run_one(*, seed: int = 1, months: float = 6.0, small: bool = False, keep: Path | None = None,
            monitors: Path | None = None) -> dict[str, Any]:
    """Build the company for ``seed``, replay its judged history through the loop, score it."""
    from metricloop.loop import backfill
    from metricloop.service import MetricLoop

    t0 = time.perf_counter()
    tmp = None
    if keep is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"ml-bench-loop-{seed}-")
        folder = Path(tmp.name)
    else:
        folder = keep / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
    try:
        text = monitors.read_text(encoding="utf-8") if monitors is not None else None
        company = build(folder, seed=seed, months=months, small=small, monitors=text)
        t1 = time.perf_counter()
        ml = MetricLoop.open(folder)
        try:
            summary = backfill(ml, company.judged_from, company.end, notify=False)
            t2 = time.perf_counter()
            incidents, alerts = observe(ml)
        finally:
            ml.close()
    finally:
        if tmp is not None:
            tmp.cleanup()
    report = score(incidents, company.incidents, judged_from=company.judged_from, end=company.end,
                   quiet=company.quiet, changes=company.changes)
    baseline = score(alerts, company.incidents, judged_from=company.judged_from, end=company.end,
                     quiet=company.quiet, changes=company.changes)
    report.update({
        "alerts_baseline": {k: v for k, v in baseline.items() if k not in ("per_event", "false")},
        "seed": seed, "months": months, "small": small, "rows": company.rows,
        "monitors": str(monitors) if monitors is not None else "hand-written 1-D (bench/loop_company.py)",
        "judged": [company.judged_from.isoformat(), company.end.isoformat()],
        "quiet": [company.quiet[0].isoformat(), company.quiet[1].isoformat()],
        "anomalies": summary.anomalies, "failed_monitors": summary.failed_monitors,
        "build_s": round(t1 - t0, 1), "loop_s": round(t2 - t1, 1),
        "project": str(folder) if keep is not None else None,
        "incident_list": [i.to_dict() for i in incidents],
    })
    return report


ROWS: tuple[tuple[str, str], ...] = (
    ("recall", "召回 recall (events found)"),
    ("delay_median_h", "发现延迟中位 detection delay, median h"),
    ("delay_max_h", "发现延迟最大 detection delay, max h"),
    ("false_per_month", "误报/月 false incidents / month"),
    ("false_in_quiet", "平静期误报 false incidents in the quiet period"),
    ("false_on_changes", "商家变动误报 false incidents on merchant churn (not incidents)"),
    ("explained", "有原因 incidents with causes or leading slices"),
    ("localized", "有定位原因 incidents with localized causes"),
    ("slice_top1", "真实切片第一 true slice top-1"),
    ("slice_top3", "真实切片前三 true slice top-3"),
    ("owner_right", "负责人正确 owner right"),
    ("incidents_per_event", "每事件事故数 incidents per event"),
    ("events_with_one_incident", "恰一事故的事件 events with exactly one incident"),
)


def table(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure; per seed a column for the loop's incidents (with ✓/✗ against the goal)
    and, when measured, one for the baseline: the same run's active alerts, each as its own incident."""
    columns: list[tuple[str, Mapping[str, Any], bool]] = []
    for r in reports:
        columns.append((f"seed {r['seed']}", r, True))
        if r.get("alerts_baseline"):
            columns.append((f"seed {r['seed']} alerts (baseline)", r["alerts_baseline"], False))
    rows = []
    counts: dict[str, Any] = {"figure": "事件/事故 events found / incidents (true + false)", "goal": ""}
    for name, fig, _ in columns:
        counts[name] = f"{fig['found']}/{fig['events']} found; {fig['incidents']} " \
                       f"({fig['true_incidents']} + {fig['false_incidents']})"
    rows.append(counts)
    for key, label in ROWS:
        row: dict[str, Any] = {"figure": label}
        row["goal"] = _goal(key)
        for name, fig, judged in columns:
            value = fig.get(key)
            met = goal_met(key, value) if judged else None
            row[name] = f"{_fmt(key, value)}{'' if met is None else (' ✓' if met else ' ✗')}"
        rows.append(row)
    return rows


def _goal(key: str) -> str:
    if key not in GOALS:
        return ""
    op, target = GOALS[key]
    if key == "owner_right" or (key == "incidents_per_event" and target == 1):
        return _fmt(key, target)  # exactly: every owner right, one incident per event
    return f"{'≥' if op == '>=' else '≤'} {_fmt(key, target)}"


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("recall", "explained", "localized", "slice_top1", "slice_top3", "owner_right",
               "events_with_one_incident"):
        return f"{float(value):.0%}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def run(seeds: Sequence[int] = (1, 2), *, months: float = 6.0, small: bool = False,
        keep: Path | None = None, monitors: Path | None = None) -> dict[str, Any]:
    """Every seed's report, the side-by-side table and the goals."""
    reports = [run_one(seed=s, months=months, small=small, keep=keep, monitors=monitors) for s in seeds]
    return {"seeds": list(seeds), "months": months, "small": small, "table": table(reports),
            "goals": {k: {"op": op, "target": v} for k, (op, v) in GOALS.items()}, "runs": reports}


def tag_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per incident tag: found, true slice top-3, owner right."""
    return [{"tag": tag, "found": f"{v['found']}/{v['events']}", "slice_top3": _fmt("slice_top3", v["slice_top3"]),
             "owner_right": _fmt("owner_right", v["owner_right"])} for tag, v in report["by_tag"].items()]


def event_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per injected event: what it was and what the loop made of it."""
    return [{
        "event": e["id"], "kind": e["kind"],
        "slice": "&".join(f"{k}={v}" for k, v in e["slice"].items()),
        "start": e["start"][5:16].replace("T", " "), "h": e["hours"],
        "found": "yes" if e["found"] else "no", "delay_h": e["delay_h"],
        "incidents": e["incidents"], "metrics": ",".join(e["incident_metrics"]),
        "owner (expected)": e["owner"], "owners": ",".join(e["owners"]),
        "ranks": ",".join("-" if r is None else str(r) for r in e["ranks"]),
    } for e in report["per_event"]]
