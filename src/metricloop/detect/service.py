"""Detection use cases: monitors, runs, backtests, anomalies and feedback (``ml.detection``).

The pure core (``evaluate_monitor``) judges arrays; this service feeds it and keeps its results:

* series come from the warehouse through the query engine only: one ``MetricQuery`` per
  monitor (its metric, the volume metric and composite inputs, grouped by ``by`` + period), one
  for the total when the monitor is sliced (its events inhibit the slices'), and one grouped by
  ``explore`` when it explores combinations (the largest ones become child series, see
  ``detect.explore``; the total's and the slices' events inhibit theirs);
* only complete periods are judged: ``at − delay``, capped by ingest freshness of every table
  the metric reads (``series.loaded_until``), so late data never looks like a drop;
* a live run re-judges the last few periods (``RECHECK``, or everything since the previous run
  when runs were missed) and upserts events by fingerprint: re-running is idempotent, events
  that late data or a changed monitor no longer supports are marked ``retracted``/``stale``;
* labels are stored and fed back into the next evaluation (masking, baseline resets, band
  widening, see ``detect.feedback``), and give each monitor its precision.

Times handed in and out are the project's wall clock (naive); the store keeps UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from metricloop.catalog.bounds import bounds_of
from metricloop.catalog.catalog import leaf_models
from metricloop.catalog.models import TOTAL_AGGS, Grain, Metric, MetricType
from metricloop.catalog.revisions import current_author
from metricloop.detect.evaluate import MonitorRun, evaluate_monitor
from metricloop.detect.explore import select_combinations
from metricloop.detect.feedback import Feedback, Label, precision
from metricloop.detect.monitor import MonitorSpec, parse_monitor
from metricloop.detect.monitors import MonitorDef, check_monitor, definition, load_monitor_files, spec_hash
from metricloop.detect.noise import AnomalyEvent
from metricloop.detect.series import (
    floor_period,
    last_complete_period,
    loaded_until,
    period_axis,
    pivot,
    select_slices,
    shift_period,
    slice_label,
)
from metricloop.detect.types import SeriesBatch, to_ns
from metricloop.engine.query import MetricQuery
from metricloop.errors import (
    ConfigError,
    ConflictError,
    DefinitionError,
    Issue,
    Location,
    MetricLoopError,
    NotFoundError,
)
from metricloop.i18n import Text
from metricloop.project import as_utc
from metricloop.secrets import redact
from metricloop.store.detect_models import Anomaly, AnomalyLabel, DetectionRun, MonitorRevision
from metricloop.store.models import utcnow

if TYPE_CHECKING:
    from metricloop.context import Context
    from metricloop.workflow.grouping import AlertInput

#: Periods a live run re-judges behind the newest complete one (late data lands in them).
RECHECK: dict[Grain, int] = {Grain.minute: 60, Grain.hour: 24, Grain.day: 3, Grain.week: 2, Grain.month: 1}

ACTIVE_STATES = ("active", "suppressed")


# ------------------------------------------------------------------------------ results
@dataclass
class AnomalyRecord:
    """An anomaly event as the workflow, the API and the UI see it (times: project wall clock)."""

    fingerprint: str
    monitor: str
    metric: str
    grain: str
    slice: dict[str, str]
    start: dt.datetime
    end: dt.datetime  # start of the last abnormal period
    peak: dt.datetime
    severity: str  # warning | critical
    score: float | None
    actual: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    impact: float | None
    points: int
    reason: Text | None
    detectors: list[str]
    state: str = "active"  # active | suppressed | retracted | stale
    suppressed_by: str | None = None
    label: str | None = None
    spec_hash: str | None = None
    change: str | None = None  # new | updated | unchanged (in a run report)

    @property
    def active(self) -> bool:
        return self.state == "active"

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "reason"}
        out["reason"] = None if self.reason is None else self.reason.to_dict()
        if locale is not None:
            out["reason_text"] = None if self.reason is None else self.reason.render(locale)
        return out

    def alert(self) -> AlertInput:
        """This event as the workflow's input (``ml.workflow.process([...])``)."""
        from metricloop.workflow.grouping import AlertInput

        return AlertInput(
            fingerprint=self.fingerprint,
            monitor=self.monitor,
            metric=self.metric,
            slice=dict(self.slice),
            start=self.start,
            end=self.end,
            severity=self.severity,
            actual=self.actual,
            expected=self.expected,
            lower=self.lower,
            upper=self.upper,
            impact=self.impact,
            reason=self.reason,
        )


@dataclass
class MonitorReport:
    """What one monitor's run did."""

    monitor: str
    status: str  # ok | failed | skipped
    run_id: int | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    data_until: dt.datetime | None = None
    series: int = 0
    events: list[AnomalyRecord] = field(default_factory=list)  # every event of the window
    retracted: list[str] = field(default_factory=list)  # fingerprints no longer supported
    detail: str | None = None

    def count(self, change: str) -> int:
        return sum(1 for e in self.events if e.change == change)

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "status": self.status,
            "run_id": self.run_id,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "data_until": self.data_until,
            "series": self.series,
            "new": self.count("new"),
            "updated": self.count("updated"),
            "retracted": self.retracted,
            "detail": self.detail,
            "events": [e.to_dict(locale) for e in self.events],
        }


@dataclass
class DetectReport:
    """The result of ``ml.detection.run``: per-monitor reports; ``events`` feed the workflow."""

    at: dt.datetime
    monitors: list[MonitorReport]

    @property
    def events(self) -> list[AnomalyRecord]:
        """Active events that are new or changed in this run (what the workflow must hear about)."""
        return [e for r in self.monitors for e in r.events if e.active and e.change in ("new", "updated")]

    @property
    def failed(self) -> list[MonitorReport]:
        return [r for r in self.monitors if r.status == "failed"]

    def alerts(self) -> list[AlertInput]:
        return [e.alert() for e in self.events]

    def to_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {"at": self.at, "monitors": [r.to_dict(locale) for r in self.monitors]}


@dataclass
class LoadedSeries:
    """A monitor's data: the sliced batch (may be None), the total batch, the explored
    combinations (``explore:``, may be None), and what was used."""

    sliced: SeriesBatch | None
    total: SeriesBatch | None
    first: dt.datetime
    last: dt.datetime
    data_until: dt.datetime | None
    explored: SeriesBatch | None = None


# ------------------------------------------------------------------------------ service
class DetectionService:
    """Anomaly detection for one project (reached as ``ml.detection``); needs only the shared
    :class:`~metricloop.context.Context` (catalog, query, state store, loaded-data freshness)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def tz(self) -> dt.tzinfo:
        return self.ctx.project.tz

    # ---------------------------------------------------------------- monitors
    def monitors(self, *, include_disabled: bool = True) -> list[MonitorDef]:
        """Every monitor: ``monitors/*.yaml`` plus those written through the service layer.

        Raises DefinitionError listing every problem (file, line, field) when one is invalid.
        """
        catalog = self.ctx.catalog
        files = load_monitor_files(self.ctx.project.root, catalog)
        names = {m.name for m in files}
        out = list(files)
        issues: list[Issue] = []
        with self.ctx.store.session() as s:
            for rev in _latest_revisions(s).values():
                if rev.origin != "api" or rev.change == "removed" or rev.name in names:
                    continue
                try:
                    spec = parse_monitor(rev.definition, file=f"api:{rev.name}")
                except DefinitionError as exc:
                    issues += exc.issues
                    continue
                where = f"api:{rev.name}"
                issues += check_monitor(spec, catalog, lambda p, w=where: Location(w, field=".".join(map(str, p))))  # type: ignore[misc]
                out.append(MonitorDef(spec, "api", f"api (v{rev.version})"))
        if issues:
            raise DefinitionError(issues)
        out.sort(key=lambda m: m.name)
        return out if include_disabled else [m for m in out if m.spec.enabled]

    def monitor(self, name: str) -> MonitorDef:
        for m in self.monitors():
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.monitors()) or "none"
        raise NotFoundError(f"unknown monitor '{name}' (known: {known})", zh=f"未知监控 '{name}'（已有：{known}）")

    def validate(self, definition_: Mapping[str, Any] | str | MonitorSpec) -> MonitorSpec:
        """Validate one monitor (a dict, YAML text or spec) exactly as files are validated."""
        if isinstance(definition_, MonitorSpec):
            spec = definition_
        elif isinstance(definition_, str):
            try:
                data = yaml.safe_load(definition_)
            except yaml.YAMLError as exc:
                raise ConfigError(f"invalid YAML: {exc}", zh="YAML 语法错误") from None
            if not isinstance(data, Mapping):
                raise ConfigError("a monitor is a mapping of keys (name, metric, ...)", zh="监控定义必须是键值映射")
            spec = parse_monitor(data)
        else:
            spec = parse_monitor(definition_)
        issues = check_monitor(spec, self.ctx.catalog)
        if issues:
            raise DefinitionError(issues)
        return spec

    def save_monitor(
        self,
        definition_: Mapping[str, Any] | str | MonitorSpec,
        *,
        author: str | None = None,
        reason: str | None = None,
    ) -> MonitorDef:
        """Create or change a monitor through the service layer; stored as a new revision."""
        spec = self.validate(definition_)
        files = {m.name: m for m in load_monitor_files(self.ctx.project.root, self.ctx.catalog)}
        if spec.name in files:
            raise ConflictError(
                f"monitor '{spec.name}' is defined in {files[spec.name].source}; edit that file instead",
                zh=f"监控 '{spec.name}' 定义在文件 {files[spec.name].source} 中，请修改该文件",
            )
        with self.ctx.store.session() as s:
            prev = _latest_revisions(s, spec.name).get(spec.name)
            body = definition(spec)
            if prev is not None and prev.change != "removed" and prev.definition == body:
                return MonitorDef(spec, "api", f"api (v{prev.version})")
            change = "created" if prev is None else "restored" if prev.change == "removed" else "changed"
            version = 1 if prev is None else prev.version + 1
            s.add(MonitorRevision(name=spec.name, version=version, origin="api", change=change,
                                  spec_hash=spec_hash(spec), definition=body, source="api",
                                  author=author or current_author(), reason=reason))
        return MonitorDef(spec, "api", f"api (v{version})")

    def delete_monitor(self, name: str, *, author: str | None = None, reason: str | None = None) -> None:
        """Remove a monitor written through the service layer; its open anomalies become stale."""
        with self.ctx.store.session() as s:
            prev = _latest_revisions(s, name).get(name)
            if prev is None or prev.change == "removed" or prev.origin != "api":
                raise NotFoundError(f"no monitor '{name}' written through the API (file monitors: delete the file)",
                                    zh=f"没有通过 API 创建的监控 '{name}'")
            s.add(MonitorRevision(name=name, version=prev.version + 1, origin="api", change="removed",
                                  spec_hash=prev.spec_hash, definition=prev.definition, source="api",
                                  author=author or current_author(), reason=reason))
            _mark(s, sa.and_(Anomaly.monitor == name, Anomaly.state.in_(ACTIVE_STATES)), "stale")

    def sync_monitors(self, *, author: str | None = None) -> list[dict[str, Any]]:
        """Record a revision for every file monitor that is new, changed or removed (idempotent)."""
        files = load_monitor_files(self.ctx.project.root, self.ctx.catalog)
        changes: list[dict[str, Any]] = []
        with self.ctx.store.session() as s:
            latest = _latest_revisions(s)
            for m in files:
                prev = latest.get(m.name)
                body = definition(m.spec)
                if prev is None:
                    change, version = "created", 1
                elif prev.change == "removed":
                    change, version = "restored", prev.version + 1
                elif prev.origin != "file" or prev.definition != body:
                    change, version = "changed", prev.version + 1
                else:
                    continue
                s.add(MonitorRevision(name=m.name, version=version, origin="file", change=change,
                                      spec_hash=m.hash, definition=body, source=m.source,
                                      author=author or current_author()))
                changes.append({"monitor": m.name, "version": version, "change": change})
            names = {m.name for m in files}
            for name, prev in latest.items():
                if prev.origin == "file" and prev.change != "removed" and name not in names:
                    s.add(MonitorRevision(name=name, version=prev.version + 1, origin="file", change="removed",
                                          spec_hash=prev.spec_hash, definition=prev.definition, source=prev.source,
                                          author=author or current_author()))
                    _mark(s, sa.and_(Anomaly.monitor == name, Anomaly.state.in_(ACTIVE_STATES)), "stale")
                    changes.append({"monitor": name, "version": prev.version + 1, "change": "removed"})
        return changes

    def monitor_history(self, name: str) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            rows = s.scalars(
                sa.select(MonitorRevision).where(MonitorRevision.name == name).order_by(MonitorRevision.version)
            )
            return [
                {"version": r.version, "origin": r.origin, "change": r.change, "spec_hash": r.spec_hash[:12],
                 "author": r.author, "reason": r.reason, "created_at": r.created_at, "definition": r.definition}
                for r in rows
            ]

    # ---------------------------------------------------------------- data
    def _metric(self, spec: MonitorSpec) -> Metric:
        return self.ctx.catalog.metric(spec.metric)

    def freshness(self, spec: MonitorSpec) -> dt.datetime | None:
        """Newest event time loaded in the tables the metric reads (the oldest of them)."""
        tables = {m.table for m in leaf_models(self.ctx.catalog, self._metric(spec)) if m.table}
        known = [t for t in (self.ctx.freshness(name) for name in sorted(tables)) if t is not None]
        return min(known) if known else None

    def last_complete(self, spec: MonitorSpec, at: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
        """The newest period that is complete at ``at`` (delay and ingest freshness), and freshness."""
        fresh = self.freshness(spec)
        ready = at - spec.delay
        if fresh is not None:
            ready = min(ready, loaded_until(fresh, spec.grain))
        return last_complete_period(ready, spec.grain), fresh

    def load_series(self, spec: MonitorSpec, first: dt.datetime, last: dt.datetime,
                    data_until: dt.datetime | None = None, *, explored: Sequence[str] = ()) -> LoadedSeries:
        """Query the monitor's series for periods ``first..last`` (inclusive) into dense batches.

        ``explored``: combinations (``slice_label``) to explore even below the cut (open anomalies)."""
        metric = self._metric(spec)
        grain = spec.grain
        axis = period_axis(first, last, grain)
        time_col = f"metric_time__{grain.value}"
        volume = _volume_metric(metric)
        context = _context_metrics(spec)
        metrics = list(dict.fromkeys([metric.name, *([volume] if volume else []), *context]))
        fill_zero = _counts(self.ctx, metric)

        def fetch(by: list[str]) -> tuple[Any, dict[str, Any]]:
            q = MetricQuery(metrics=metrics, group_by=[*by, time_col], where=spec.where, start=first, end=last)
            frame = self.ctx.query(q).to_pandas()
            span: dict[str, Any] = {}
            if len(frame):  # zeros only once the data has begun (and, without freshness, until it ends)
                span["data_start"] = np.datetime64(frame[time_col].min(), "ns")
                if data_until is None:
                    span["data_end"] = np.datetime64(frame[time_col].max(), "ns")
            return frame, span

        total = sliced = None
        if spec.total or not (spec.by or spec.explore):
            frame, span = fetch([])
            p = pivot(frame, axis=axis, time_col=time_col, dims=[], value_col=metric.name, fill_zero=fill_zero,
                      **span)
            if not p.keys:  # no row at all: one empty total series
                p.values, p.keys = np.full((1, len(axis)), np.nan), [{}]
            self._thin(spec, p.values, frame, axis, time_col, [], volume, span)
            ctx = {c: pivot(frame, axis=axis, time_col=time_col, dims=[], value_col=c, **span,
                            fill_zero=_counts(self.ctx, self.ctx.catalog.metric(c))).values for c in context}
            if all(v.shape == p.values.shape for v in ctx.values()):
                total = SeriesBatch(p.values, axis, grain=grain, keys=tuple(p.keys), context=ctx)
        def children(dims: list[str], choose: Callable[[Any], np.ndarray]) -> SeriesBatch | None:
            """The series of ``dims``' values that ``choose`` keeps (slices or explored combinations)."""
            frame, span = fetch(dims)
            p = pivot(frame, axis=axis, time_col=time_col, dims=dims, value_col=metric.name,
                      volume_col=volume, fill_zero=fill_zero, **span)
            keep = choose(p)
            self._thin(spec, p.values, frame, axis, time_col, dims, volume, span)
            ctx = {c: pivot(frame, axis=axis, time_col=time_col, dims=dims, value_col=c, **span,
                            fill_zero=_counts(self.ctx, self.ctx.catalog.metric(c))).values[keep] for c in context}
            if not len(keep):
                return None
            return SeriesBatch(p.values[keep], axis, grain=grain, keys=tuple(p.keys[int(i)] for i in keep), context=ctx)

        if spec.by:
            sliced = children(list(spec.by), lambda p: select_slices(p.volume, spec.top_n, spec.min_volume))
        combos = None
        if spec.explore:  # the largest combinations, chosen on this history (detect/explore.py)
            combos = children(list(spec.explore), lambda p: select_combinations(
                p.volume, p.keys, top=spec.explore_top, min_share=spec.explore_min_share, keep=set(explored)))
        return LoadedSeries(sliced, total, first, last, data_until, combos)

    @staticmethod
    def _thin(spec: MonitorSpec, values: np.ndarray, frame: Any, axis: np.ndarray, time_col: str,
              dims: Sequence[str], volume: str | None, span: dict[str, Any]) -> None:
        """Blank (NaN) the periods whose volume is below ``min_point_volume``, in place."""
        if spec.min_point_volume is None or not values.size:
            return
        vol = values if volume is None else pivot(frame, axis=axis, time_col=time_col, dims=dims,
                                                  value_col=volume, fill_zero=True, **span).values
        if vol.shape == values.shape:
            values[np.nan_to_num(np.abs(vol), nan=0.0) < spec.min_point_volume] = np.nan

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, spec: MonitorSpec, data: LoadedSeries, feedback: Sequence[Feedback] = ()) -> list[MonitorRun]:
        """Judge the total first, then the slices (the total's events inhibit theirs), then the
        explored combinations (the total's and the slices' events inhibit theirs)."""
        metric = self._metric(spec)
        polarity, bounds = metric.polarity, bounds_of(metric)  # a rate's band (and reason) within 0–100 %
        runs: list[MonitorRun] = []
        parents: list[AnomalyEvent] = []
        if data.total is not None:
            total_spec = spec.model_copy(update={"by": []})
            runs.append(evaluate_monitor(total_spec, data.total, polarity=polarity, feedback=feedback,
                                         bounds=bounds))
            parents = runs[0].active_events
        if data.sliced is not None:
            runs.append(evaluate_monitor(spec, data.sliced, polarity=polarity, feedback=feedback,
                                         external_parents=parents, bounds=bounds))
        if data.explored is not None:
            parents = [e for r in runs for e in r.active_events]
            runs.append(evaluate_monitor(spec.model_copy(update={"by": list(spec.explore)}), data.explored,
                                         polarity=polarity, feedback=feedback, external_parents=parents,
                                         bounds=bounds))
        return runs

    def _feedback(self, s: Session, monitor: str) -> list[Feedback]:
        rows = s.execute(
            sa.select(Anomaly.fingerprint, Anomaly.label, Anomaly.slice, Anomaly.start, Anomaly.end)
            .where(Anomaly.monitor == monitor, Anomaly.label.is_not(None))
        ).all()
        return [Feedback(fp, Label(lab), dict(sl), self._local(a), self._local(b)) for fp, lab, sl, a, b in rows]

    def _records(self, spec: MonitorSpec, runs: Sequence[MonitorRun], h: str) -> list[AnomalyRecord]:
        out: list[AnomalyRecord] = []
        for run in runs:
            ts = run.batch.timestamps
            for e in run.events:
                i = e.series
                t = int(np.searchsorted(ts, e.peak))
                out.append(AnomalyRecord(
                    fingerprint=e.fingerprint,
                    monitor=spec.name,
                    metric=spec.metric,
                    grain=spec.grain.value,
                    slice={str(k): str(v) for k, v in e.slice.items()},
                    start=_py(e.start),
                    end=_py(e.end),
                    peak=_py(e.peak),
                    severity=e.severity.name.lower(),
                    score=_num(e.score),
                    actual=_num(run.batch.values[i, t]),
                    expected=_num(run.expected[i, t]),
                    lower=_num(run.lower[i, t]),
                    upper=_num(run.upper[i, t]),
                    impact=_num(e.impact),
                    points=e.points,
                    reason=e.reason,
                    detectors=list(e.detectors),
                    state="active" if e.active else "suppressed",
                    suppressed_by=e.suppressed_by,
                    spec_hash=h,
                ))
        return out

    # ---------------------------------------------------------------- runs
    def run(self, monitor: str | None = None, at: dt.datetime | dt.date | str | None = None,
            *, since: dt.datetime | None = None) -> DetectReport:
        """Evaluate every enabled monitor (or one) now or at ``at``; store the events.

        ``since`` widens the re-judged window back to that time (a backfill of history in one
        pass). A monitor that fails (e.g. its query) is reported as failed; the others still run.
        """
        when = self._at(at)
        if monitor is None:
            self.sync_monitors()
            targets = self.monitors(include_disabled=False)
        else:
            self.sync_monitors()
            targets = [self.monitor(monitor)]
        return DetectReport(when, [self._run_one(m, when, since) for m in targets])

    def _run_one(self, m: MonitorDef, at: dt.datetime, since: dt.datetime | None = None) -> MonitorReport:
        spec, h = m.spec, m.hash
        started = utcnow()
        report = MonitorReport(spec.name, "ok")
        try:
            last, fresh = self.last_complete(spec, at)
            report.data_until = fresh
            history = spec.history_periods()
            first = shift_period(last, spec.grain, -(history - 1))
            with self.ctx.store.session() as s:
                prev = s.scalars(
                    sa.select(DetectionRun).where(DetectionRun.monitor == spec.name, DetectionRun.status == "ok")
                    .order_by(DetectionRun.id.desc()).limit(1)
                ).first()
                feedback = self._feedback(s, spec.name)
            w0 = shift_period(last, spec.grain, -(RECHECK[spec.grain] - 1))
            if prev is not None and prev.window_end is not None:
                w0 = min(w0, shift_period(self._local(prev.window_end), spec.grain, 1))
            w0 = max(w0, first)
            if since is not None:  # backfill: judge everything from ``since``, with history before it
                w0 = min(w0, since)
                first = min(first, shift_period(since, spec.grain, -(history - 1)))
            report.window_start, report.window_end = w0, last
            explored = self._open_combinations(spec, w0) if spec.explore else []
            data = self.load_series(spec, first, last, fresh, explored=explored)
            runs = self.evaluate(spec, data, feedback)
            report.series = sum(r.batch.n_series for r in runs)
            records = [r for r in self._records(spec, runs, h) if r.end >= w0]
            with self.ctx.store.session() as s:
                row = DetectionRun(monitor=spec.name, spec_hash=h, status="ok", at=self._utc(at),
                                   data_until=self._utc(fresh), window_start=self._utc(w0), window_end=self._utc(last),
                                   series=report.series, points=sum(r.batch.values.size for r in runs),
                                   started_at=started)
                s.add(row)
                s.flush()
                report.run_id = row.id
                report.events = self._upsert(s, records, row.id)
                report.retracted = self._retract(s, spec.name, h, w0, {r.fingerprint for r in records})
                row.events_new, row.events_updated = report.count("new"), report.count("updated")
                row.events_retracted = len(report.retracted)
                row.finished_at = utcnow()
        except MetricLoopError as exc:
            report.status, report.detail = "failed", redact(str(exc))
            self._failed_run(spec.name, h, at, started, report.detail)
        except Exception as exc:
            report.status, report.detail = "failed", redact(f"{type(exc).__name__}: {exc}")
            self._failed_run(spec.name, h, at, started, report.detail)
        return report

    def _open_combinations(self, spec: MonitorSpec, w0: dt.datetime) -> list[str]:
        """Explored combinations with an open anomaly in the re-judged window: they stay explored."""
        dims = set(spec.explore)
        q = sa.select(Anomaly.slice).where(Anomaly.monitor == spec.name, Anomaly.state.in_(ACTIVE_STATES),
                                           Anomaly.end >= self._utc(w0))
        with self.ctx.store.session() as s:
            return sorted({slice_label(sl) for sl in s.scalars(q) if set(sl) == dims})

    def _failed_run(self, name: str, h: str, at: dt.datetime, started: dt.datetime, detail: str) -> None:
        with self.ctx.store.session() as s:
            s.add(DetectionRun(monitor=name, spec_hash=h, status="failed", at=self._utc(at), detail=detail[:4000],
                               started_at=started, finished_at=utcnow()))

    def _upsert(self, s: Session, records: list[AnomalyRecord], run_id: int) -> list[AnomalyRecord]:
        fps = [r.fingerprint for r in records]
        existing = {a.fingerprint: a for a in s.scalars(sa.select(Anomaly).where(Anomaly.fingerprint.in_(fps)))} \
            if fps else {}
        now = utcnow()
        for r in records:
            values = {
                "monitor": r.monitor, "spec_hash": r.spec_hash, "metric": r.metric, "grain": r.grain,
                "slice": r.slice, "slice_key": slice_label(r.slice)[:512], "state": r.state,
                "suppressed_by": r.suppressed_by, "start": self._utc(r.start), "end": self._utc(r.end),
                "peak": self._utc(r.peak), "severity": r.severity, "score": r.score, "actual": r.actual,
                "expected": r.expected, "lower": r.lower, "upper": r.upper, "impact": r.impact,
                "points": r.points, "reason": None if r.reason is None else r.reason.to_dict(),
                "detectors": r.detectors,
            }
            row = existing.get(r.fingerprint)
            if row is None:
                s.add(Anomaly(fingerprint=r.fingerprint, first_run_id=run_id, last_run_id=run_id, seen_count=1,
                              created_at=now, updated_at=now, handled_at=None,
                              decision=None if r.active else "suppressed", **values))
                r.change = "new"
                continue
            material = ("state", "end", "severity", "points", "spec_hash")
            changed = any(getattr(row, k) != values[k] for k in material)
            for k, v in values.items():
                setattr(row, k, v)
            if changed:  # the workflow must hear about this version (pending until it has)
                row.handled_at, row.decision = None, None if r.active else "suppressed"
            row.last_run_id, row.seen_count, row.updated_at = run_id, row.seen_count + 1, now
            r.label = row.label
            r.change = "updated" if changed else "unchanged"
        s.flush()
        return records

    def _retract(self, s: Session, monitor: str, h: str, w0: dt.datetime, found: set[str]) -> list[str]:
        """Events in the re-judged window that this run did not find again, and open events of an
        older definition: retracted (the data changed) or stale (the monitor changed)."""
        in_window = sa.and_(Anomaly.monitor == monitor, Anomaly.state.in_(ACTIVE_STATES),
                            Anomaly.end >= self._utc(w0))
        old_def = sa.and_(Anomaly.monitor == monitor, Anomaly.state == "active", Anomaly.spec_hash != h,
                          Anomaly.label.is_(None))
        gone: list[str] = []
        for row in s.scalars(sa.select(Anomaly).where(sa.or_(in_window, old_def))):
            if row.fingerprint in found:
                continue
            row.state = "retracted" if row.spec_hash == h else "stale"
            row.updated_at = utcnow()
            gone.append(row.fingerprint)
        return gone

    # ---------------------------------------------------------------- backtest
    def backtest(
        self,
        monitor: str | MonitorSpec | Mapping[str, Any],
        start: dt.datetime | dt.date | str,
        end: dt.datetime | dt.date | str,
        *,
        max_series: int = 20,
        locale: str | None = None,
        use_feedback: bool = True,
    ) -> dict[str, Any]:
        """What the monitor would have fired over ``start..end`` (inclusive), chart-ready.

        Accepts a saved monitor's name or an unsaved definition (the UI's preview). Nothing is
        stored. Returns ``{"monitor", "metric", "grain", "start", "end", "summary", "series":
        [{slice, timestamps, value, expected, lower, upper, severity}], "anomalies": [...]}``.
        """
        spec = self.monitor(monitor).spec if isinstance(monitor, str) else self.validate(monitor)
        runs, first, last, fresh = self._backtest_runs(spec, start, end, use_feedback)
        records = [r for r in self._records(spec, runs, spec_hash(spec)) if r.end >= first]
        return self._chart_payload(spec, runs, records, first, last, fresh, max_series, locale)

    def backtest_events(
        self, spec: MonitorSpec, start: dt.datetime | dt.date | str, end: dt.datetime | dt.date | str
    ) -> list[AnomalyRecord]:
        """Only the events a backtest finds (no chart): what evaluations and benchmarks need."""
        runs, first, _last, _ = self._backtest_runs(spec, start, end, use_feedback=False)
        return [r for r in self._records(spec, runs, spec_hash(spec)) if r.end >= first]

    def _backtest_runs(
        self, spec: MonitorSpec, start: dt.datetime | dt.date | str, end: dt.datetime | dt.date | str,
        use_feedback: bool,
    ) -> tuple[list[MonitorRun], dt.datetime, dt.datetime, dt.datetime | None]:
        first = floor_period(_as_datetime(start), spec.grain)
        end_t = _as_datetime(end)
        if (isinstance(end, dt.date) and not isinstance(end, dt.datetime)) or (isinstance(end, str) and len(end) == 10):
            end_t = end_t + dt.timedelta(days=1) - dt.timedelta(microseconds=1)  # the whole last day
        last = floor_period(end_t, spec.grain)
        complete, fresh = self.last_complete(spec, self._at(None))
        last = min(last, complete)
        if last < first:
            raise ConfigError(
                f"nothing to backtest: {first:%Y-%m-%d %H:%M} is after the last complete period "
                f"({complete:%Y-%m-%d %H:%M})", zh="回测区间内没有已完整的数据周期")
        history_first = shift_period(first, spec.grain, -spec.history_periods())
        data = self.load_series(spec, history_first, last, fresh)
        feedback: list[Feedback] = []
        if use_feedback:
            with self.ctx.store.session() as s:
                feedback = self._feedback(s, spec.name)
        return self.evaluate(spec, data, feedback), first, last, fresh

    def _chart_payload(
        self, spec: MonitorSpec, runs: list[MonitorRun], records: list[AnomalyRecord], first: dt.datetime,
        last: dt.datetime, fresh: dt.datetime | None, max_series: int, locale: str | None,
    ) -> dict[str, Any]:
        impact: dict[str, float] = {}
        for r in records:
            if r.active:
                key = slice_label(r.slice)
                impact[key] = impact.get(key, 0.0) + (r.impact or 0.0)
        candidates: list[tuple[tuple[int, float, float], MonitorRun, int]] = []
        for run in runs:
            lo = int(np.searchsorted(run.batch.timestamps, to_ns(first)))
            for i in range(run.batch.n_series):
                keys = dict(run.batch.keys[i]) if run.batch.keys is not None else {}
                vol = float(np.nansum(np.abs(run.batch.values[i, lo:])))
                rank = (0 if not keys else 1, -impact.get(slice_label(keys), 0.0), -vol)
                candidates.append((rank, run, i))
        candidates.sort(key=lambda c: c[0])
        series = [_chart_series(run, i, first) for _, run, i in candidates[:max_series]]
        active = [r for r in records if r.active]
        return {
            "monitor": spec.name,
            "metric": spec.metric,
            "grain": spec.grain.value,
            "direction": spec.effective_direction(self._metric(spec).polarity).value,
            "start": first,
            "end": last,
            "data_until": fresh,
            "summary": {
                "events": len(active),
                "suppressed": len(records) - len(active),
                "critical": sum(1 for r in active if r.severity == "critical"),
                "warning": sum(1 for r in active if r.severity == "warning"),
                "series": sum(r.batch.n_series for r in runs),
                "series_shown": len(series),
            },
            "series": series,
            "anomalies": [r.to_dict(locale or self.ctx.project.config.locale) for r in records],
        }

    # ---------------------------------------------------------------- anomalies & feedback
    def anomalies(
        self,
        *,
        monitor: str | None = None,
        metric: str | None = None,
        state: str | Sequence[str] | None = "active",
        since: dt.datetime | dt.date | str | None = None,
        until: dt.datetime | dt.date | str | None = None,
        label: str | None = None,
        limit: int = 100,
    ) -> list[AnomalyRecord]:
        """Stored anomalies, newest first (``state=None`` for every state)."""
        q = sa.select(Anomaly).order_by(Anomaly.start.desc(), Anomaly.id.desc()).limit(limit)
        if monitor:
            q = q.where(Anomaly.monitor == monitor)
        if metric:
            q = q.where(Anomaly.metric == metric)
        if state:
            q = q.where(Anomaly.state.in_([state] if isinstance(state, str) else list(state)))
        if since is not None:
            q = q.where(Anomaly.end >= self._utc(_as_datetime(since)))
        if until is not None:
            q = q.where(Anomaly.start <= self._utc(_as_datetime(until)))
        if label:
            q = q.where(Anomaly.label == label)
        with self.ctx.store.session() as s:
            return [self._record(a) for a in s.scalars(q)]

    def pending(self, monitor: str | None = None) -> list[AnomalyRecord]:
        """Active anomalies the workflow has not handled yet, oldest first.

        This, not the latest run's report, is what the loop feeds the workflow: an anomaly stored
        by a pass that then died (``kill -9``, a dropped connection, a broken owners.yaml) stays
        pending until a pass records what it did with it (``handled_at``, ``decision``).
        """
        q = (sa.select(Anomaly).where(Anomaly.state == "active", Anomaly.handled_at.is_(None))
             .order_by(Anomaly.end, Anomaly.fingerprint))
        if monitor:
            q = q.where(Anomaly.monitor == monitor)
        with self.ctx.store.session() as s:
            return [self._record(a) for a in s.scalars(q)]

    def last_handled(self, since: dt.datetime) -> dt.datetime | None:
        """When the workflow last handled an anomaly that ends at or after ``since`` (the loop's
        clock, project wall time): where an interrupted backfill had got to."""
        q = sa.select(sa.func.max(Anomaly.handled_at)).where(
            Anomaly.end >= self._utc(since), Anomaly.handled_at.is_not(None),
            sa.func.coalesce(Anomaly.decision, "") != "before_upgrade")
        with self.ctx.store.session() as s:
            t = s.scalar(q)
        return None if t is None else self._local(t)

    def anomaly(self, fingerprint: str) -> AnomalyRecord:
        """One anomaly by fingerprint (a unique prefix of at least 6 characters is enough)."""
        with self.ctx.store.session() as s:
            return self._record(self._find(s, fingerprint))

    def label(self, fingerprint: str, label: Label | str, *, note: str | None = None,
              author: str | None = None) -> AnomalyRecord:
        """Record feedback on an anomaly; the monitor's next evaluation uses it."""
        try:
            lab = Label(label)
        except ValueError:
            raise ConfigError(
                f"label {label!r} is not one of {', '.join(x.value for x in Label)}",
                zh=f"标注 {label!r} 无效，可选：{', '.join(x.value for x in Label)}",
            ) from None
        with self.ctx.store.session() as s:
            row = self._find(s, fingerprint)
            s.add(AnomalyLabel(fingerprint=row.fingerprint, monitor=row.monitor, label=lab.value, note=note,
                               author=author or current_author()))
            row.label = lab.value
            row.updated_at = utcnow()
            s.flush()
            return self._record(row)

    def labels(self, fingerprint: str) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            fp = self._find(s, fingerprint).fingerprint
            rows = s.scalars(sa.select(AnomalyLabel).where(AnomalyLabel.fingerprint == fp).order_by(AnomalyLabel.id))
            return [{"label": r.label, "note": r.note, "author": r.author, "created_at": r.created_at} for r in rows]

    def precision(self, monitor: str) -> dict[str, Any]:
        """The monitor's precision from its labelled anomalies (``detect.feedback.precision``)."""
        with self.ctx.store.session() as s:
            labels = s.scalars(sa.select(Anomaly.label).where(Anomaly.monitor == monitor, Anomaly.label.is_not(None)))
            return precision([lab for lab in labels if lab is not None]).to_dict()

    def runs(self, monitor: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = sa.select(DetectionRun).order_by(DetectionRun.id.desc()).limit(limit)
        if monitor:
            q = q.where(DetectionRun.monitor == monitor)
        with self.ctx.store.session() as s:
            return [
                {"id": r.id, "monitor": r.monitor, "status": r.status, "at": self._local(r.at),
                 "window_start": self._local(r.window_start), "window_end": self._local(r.window_end),
                 "data_until": self._local(r.data_until), "series": r.series, "new": r.events_new,
                 "updated": r.events_updated, "retracted": r.events_retracted, "detail": r.detail}
                for r in s.scalars(q)
            ]

    def _find(self, s: Session, fingerprint: str) -> Anomaly:
        fp = fingerprint.strip()
        row = s.scalars(sa.select(Anomaly).where(Anomaly.fingerprint == fp)).first()
        if row is None and len(fp) >= 6:
            rows = list(s.scalars(sa.select(Anomaly).where(Anomaly.fingerprint.like(f"{fp}%")).limit(2)))
            if len(rows) > 1:
                raise ConflictError(f"fingerprint prefix '{fp}' is ambiguous; give more characters",
                                    zh=f"指纹前缀 '{fp}' 不唯一，请多输入几位")
            row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(f"no anomaly with fingerprint '{fp}'", zh=f"没有指纹为 '{fp}' 的异常")
        return row

    def _record(self, a: Anomaly) -> AnomalyRecord:
        reason = Text(en=a.reason.get("en", ""), zh=a.reason.get("zh-CN", "")) if a.reason else None
        return AnomalyRecord(
            fingerprint=a.fingerprint, monitor=a.monitor, metric=a.metric, grain=a.grain, slice=dict(a.slice),
            start=self._local(a.start), end=self._local(a.end), peak=self._local(a.peak), severity=a.severity,
            score=a.score, actual=a.actual, expected=a.expected, lower=a.lower, upper=a.upper, impact=a.impact,
            points=a.points, reason=reason, detectors=list(a.detectors), state=a.state,
            suppressed_by=a.suppressed_by, label=a.label, spec_hash=a.spec_hash,
        )

    # ---------------------------------------------------------------- time
    def _at(self, at: dt.datetime | dt.date | str | None) -> dt.datetime:
        """Evaluation time as the project's wall clock (naive)."""
        if at is None:
            return dt.datetime.now(self.tz).replace(tzinfo=None, microsecond=0)
        t = _as_datetime(at)
        return t.astimezone(self.tz).replace(tzinfo=None) if t.tzinfo else t

    def _utc(self, t: dt.datetime | None) -> dt.datetime | None:
        return None if t is None else as_utc(t, self.tz)

    def _local(self, t: dt.datetime | None) -> dt.datetime:
        assert t is not None
        return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(self.tz).replace(tzinfo=None)


# ------------------------------------------------------------------------------ helpers
def _latest_revisions(s: Session, name: str | None = None) -> dict[str, MonitorRevision]:
    sub = sa.select(MonitorRevision.name, sa.func.max(MonitorRevision.version).label("v")).group_by(
        MonitorRevision.name)
    if name is not None:
        sub = sub.where(MonitorRevision.name == name)
    subq = sub.subquery()
    rows = s.scalars(sa.select(MonitorRevision).join(
        subq, (MonitorRevision.name == subq.c.name) & (MonitorRevision.version == subq.c.v)))
    return {r.name: r for r in rows}


def _mark(s: Session, where: Any, state: str) -> None:
    for row in s.scalars(sa.select(Anomaly).where(where)):
        row.state, row.updated_at = state, utcnow()


def _volume_metric(metric: Metric) -> str | None:
    """What "volume" means for top-N and min_volume: a ratio's denominator, else the metric."""
    if metric.type is MetricType.ratio and metric.denominator is not None:
        d = metric.denominator
        if d.filter is None and d.offset_window is None and d.alias is None:
            return d.name
    return None


def _context_metrics(spec: MonitorSpec) -> list[str]:
    names: list[str] = []
    for det in spec.detectors:
        if det.type == "composite":
            for rule in det.params.get("rules", []):
                name = rule.get("metric") if isinstance(rule, Mapping) else None
                if name and name != "self" and name != spec.metric:
                    names.append(name)
    return list(dict.fromkeys(names))


def _counts(ctx: Context, metric: Metric) -> bool:
    """True when a period without rows means 0 (simple sums and counts), not "unknown"."""
    if metric.type is not MetricType.simple:
        return False
    try:
        return ctx.catalog.resolve_measure(metric).agg in TOTAL_AGGS
    except MetricLoopError:
        return False


def _as_datetime(value: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{value!r} is not a date or time like 2026-09-17 or 2026-09-17T10:00",
                          zh=f"{value!r} 不是有效的日期或时间") from None


def _py(t: np.datetime64) -> dt.datetime:
    out: dt.datetime = t.astype("datetime64[us]").astype(dt.datetime)
    return out


def _num(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def _chart_series(run: MonitorRun, i: int, first: dt.datetime) -> dict[str, Any]:
    lo = int(np.searchsorted(run.batch.timestamps, to_ns(first)))

    def nums(a: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else round(float(v), 6) for v in a[lo:]]

    keys = dict(run.batch.keys[i]) if run.batch.keys is not None else {}
    return {
        "slice": keys,
        "label": slice_label(keys) or "total",
        "timestamps": [str(t)[:19] for t in run.batch.timestamps[lo:].astype("datetime64[s]")],
        "value": nums(run.batch.values[i]),
        "expected": nums(run.expected[i]),
        "lower": nums(run.lower[i]),
        "upper": nums(run.upper[i]),
        "severity": [int(s) for s in run.severity[i, lo:]],
    }
