"""The action stage as a service: alerts → incidents → owners → outbox, timers, lifecycle.

Entry points the loop calls (``now`` is injectable everywhere: tests and backfills replay the
demo's history):

- :meth:`WorkflowService.process` — one pass over new alerts, in ONE transaction: dedup,
  silences, grouping, inhibition, incident + owner, audit events, timers, outbox rows, and the
  anomalies marked handled (so each becomes an incident, or a recorded decision, exactly once).
- :meth:`WorkflowService.dispatch` — deliver the outbox (:mod:`metricloop.notify.dispatch`).
- :meth:`WorkflowService.tick` — fire the stored deadlines that are due.

Humans act through :meth:`act` (declared transitions only), :meth:`assign`, :meth:`comment`,
action items and silences; chat links through :meth:`act_with_token`.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets as pysecrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from metricloop.catalog.models import Grain
from metricloop.engine.compiler import shift_by
from metricloop.errors import ConfigError, ConflictError, NotFoundError
from metricloop.i18n import Text, normalize_locale, pick
from metricloop.notify.config import ChannelsFile, load_channels
from metricloop.notify.dispatch import Dispatcher, DispatchReport
from metricloop.notify.message import Mention, Notification
from metricloop.notify.outbox import DbUsedTokens, broken_channels, enqueue, message_id
from metricloop.notify.policy import RetryPolicy
from metricloop.notify.senders import Notifier
from metricloop.notify.tokens import action_url, make_action_token, verify_action_token
from metricloop.project import as_utc, parse_duration
from metricloop.secrets import register
from metricloop.store.detect_models import Anomaly
from metricloop.store.workflow_models import (
    ActionItem,
    AuditEvent,
    Incident,
    IncidentAlert,
    OutboxMessage,
    Silence,
    Timer,
    UsedActionToken,
)
from metricloop.workflow import lifecycle
from metricloop.workflow.bands import bounded, metric_bounds
from metricloop.workflow.grouping import (
    HELD_STATES,
    SILENCE_KINDS,
    AlertInput,
    MetricTree,
    OpenIncident,
    SilenceRule,
    common_slice,
    evidence,
    group_alerts,
    hold,
    inhibited,
    normalize_severity,
    silence_ref,
    worst,
)
from metricloop.workflow.owners import OwnersFile, escalation_target, load_owners, route
from metricloop.workflow.routing import cause_of, cause_slice, metric_tree, routing_basis, routing_of

if TYPE_CHECKING:
    import random

    from metricloop.context import Context

UTC = dt.UTC
ACTION_STATUSES = ("open", "in_progress", "done", "cancelled")
LINK_TTL = dt.timedelta(days=3)

MSG = {
    "ack_breach": Text(en="acknowledgement deadline passed", zh="超过确认时限仍未确认"),
    "resolve_breach": Text(en="resolution deadline passed", zh="超过解决时限仍未解决"),
    "action_due": Text(en="action item overdue: {title}", zh="行动项已逾期：{title}"),
    "review_due": Text(en="the review is due", zh="复盘已到期，请完成复盘"),
    "channel_broken": Text(en="channel {channel} is broken: {reason}", zh="渠道 {channel} 不可用：{reason}"),
    "dead": Text(en="a notification could not be delivered anywhere", zh="通知无法送达任何渠道"),
    "retriggered": Text(en="acknowledged, but no progress in time: back to triggered",
                        zh="已确认但未在时限内推进，事件重新触发"),
}


def parse_incident_id(ref: str | int) -> int:
    """``42``, ``"42"`` or ``"INC-42"`` → 42."""
    if isinstance(ref, int):
        return ref
    s = ref.strip().upper().removeprefix("INC-")
    if not s.isdigit():
        raise NotFoundError(f"{ref!r} is not an incident id (like INC-42)", zh=f"{ref!r} 不是事件编号（如 INC-42）")
    return int(s)


def _create_private(path: Path, text: str) -> None:
    """Write a secret file that is 0600 from its first byte and complete when it appears: a
    private temporary file (O_EXCL) hard-linked into place; if another process made ``path``
    first, its key is kept."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{pysecrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: create the file itself, still 0600 and exclusive
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
                f.write(text)
    finally:
        tmp.unlink(missing_ok=True)


def incident_ref(i: int) -> str:
    return f"INC-{i}"


class IncidentMoved(ConflictError):
    """A chat link's action no longer fits: the incident changed after the message was sent.

    Raised before anything is written, so the link stays unspent (it may fit again, e.g. after a
    re-trigger); the message says what the incident is now, who moved it and when."""

    code = "incident_changed"

    def __init__(self, ref: str, status: str, action: str, *, by: str | None = None,
                 at: dt.datetime | None = None) -> None:
        self.incident, self.status, self.action = ref, status, action
        state = lifecycle.STATE_LABELS[status]
        rule = lifecycle.RULES_BY_ACTION.get(action)
        act_en, act_zh = (rule.label.en, rule.label.zh) if rule else (action, action)
        when = f"{at:%Y-%m-%d %H:%M}" if at else None
        who_en = "".join([f" by {by}" if by else "", f" at {when}" if when else ""])
        who_zh = (by or "") + (f"于 {when}" if when else "")
        who_zh = f"（{who_zh}）" if who_zh else ""
        super().__init__(
            f"{ref} is now {state.en}{who_en}, so '{act_en}' no longer applies; nothing was changed "
            "and this link was not used",
            zh=f"{ref} 已变为「{state.zh}」{who_zh}，无法再执行「{act_zh}」；未做任何更改，此链接未被使用",
        )


@dataclass
class PassReport:
    """What one :meth:`WorkflowService.process` pass did."""

    alerts: int = 0
    new_alerts: int = 0
    duplicates: int = 0
    silenced: int = 0
    inhibited: int = 0
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    notifications: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "opened": [incident_ref(i) for i in self.opened],
                "updated": [incident_ref(i) for i in self.updated]}


@dataclass
class TickReport:
    """What one :meth:`WorkflowService.tick` did: timers fired by kind (``silence_ended``: alerts
    released into incidents when their silence ended), messages queued, incidents opened."""

    fired: dict[str, int] = field(default_factory=dict)
    notifications: int = 0
    opened: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"fired": dict(self.fired), "notifications": self.notifications,
                "opened": [incident_ref(i) for i in self.opened]}


class WorkflowService:
    """Incidents, owners, timers and delivery for one project (reached as ``ml.workflow``).

    Needs only the shared :class:`~metricloop.context.Context` (settings, catalog, state store)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ configuration
    @property
    def tz(self) -> dt.tzinfo:
        return self.ctx.project.tz

    @property
    def locale(self) -> str:
        return normalize_locale(os.environ.get("METRICLOOP_LOCALE") or self.ctx.project.config.locale)

    @cached_property
    def channels_file(self) -> ChannelsFile:
        """``channels.yaml`` (empty when the project has none: incidents are still tracked)."""
        path = self.ctx.project.path("channels.yaml")
        return load_channels(path) if path.exists() else ChannelsFile()

    @cached_property
    def owners(self) -> OwnersFile:
        path = self.ctx.project.path("owners.yaml")
        if not path.exists():
            return OwnersFile()
        names: list[str] | None
        try:
            names = [c.name for c in self.channels_file.channels]
        except ConfigError:
            names = None  # channels.yaml itself is broken (reported when dispatching)
        return load_owners(path, self.ctx.project.root, names)

    def reload(self) -> None:
        for k in ("channels_file", "owners", "tree"):
            self.__dict__.pop(k, None)

    @cached_property
    def tree(self) -> MetricTree | None:
        """The catalog's metric tree: anomalies of related metrics join one incident (None: the
        catalog does not load, so each metric groups alone as before)."""
        try:
            return metric_tree(self.ctx.catalog)
        except Exception:  # a project whose catalog does not load still tracks incidents
            return None

    def _channel_map(self) -> dict[str, Any]:
        try:
            return self.channels_file.by_name()
        except ConfigError:
            return {}

    @cached_property
    def action_secret(self) -> str:
        """HS256 key of the ack/resolve links: ``METRICLOOP_ACTION_SECRET`` or a random key kept
        in the project's state folder (never printed; registered for redaction)."""
        value = os.environ.get("METRICLOOP_ACTION_SECRET")
        if not value:
            path: Path = self.ctx.project.state_dir / "action_secret"
            if not path.exists():
                _create_private(path, pysecrets.token_urlsafe(48))
            elif path.stat().st_mode & 0o077:
                path.chmod(0o600)  # written by an older version at 0644
            value = path.read_text(encoding="utf-8").strip()
        register(value)
        return value

    @property
    def base_url(self) -> str:
        return self.ctx.project.config.base_url.rstrip("/")

    # ------------------------------------------------------------------ process
    def process(self, alerts: Sequence[AlertInput], now: dt.datetime | None = None, *,
                pending_only: bool = False) -> PassReport:
        """Group new alerts into incidents, assign owners, write audit, timers and outbox rows —
        all in one transaction (a crash leaves either all of it or none).

        ``pending_only`` (the loop): the alerts' anomaly rows are locked first and those another
        pass handled meanwhile are left out, so two passes at once never handle one twice.
        """
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        report = PassReport(alerts=len(alerts))
        if not alerts:
            return report
        if pending_only:
            with self.ctx.store.session() as s:  # a quick check before the work (the lock is below)
                alerts = self._still_pending(s, alerts, lock=False)
            if not alerts:
                return report
        norm = [
            AlertInput(**{**bounded(vars(a), metric_bounds(self.ctx, a.metric)), "start": as_utc(a.start, self.tz),
                          "end": as_utc(a.end, self.tz), "severity": normalize_severity(a.severity),
                          "slice": dict(a.slice)})
            for a in alerts
        ]
        channels = self._channel_map()
        with self.ctx.store.session() as s:
            if pending_only:
                norm = self._still_pending(s, norm, lock=True)
            broken = broken_channels(s)
            fps = list({a.fingerprint for a in norm})
            known_rows = s.execute(
                sa.select(IncidentAlert.fingerprint, IncidentAlert.id).where(IncidentAlert.fingerprint.in_(fps))
            ).all()
            known_alert: dict[str, int] = {str(fp): int(aid) for fp, aid in known_rows}
            silences = self._silence_rules(s, min((a.start for a in norm), default=now))
            until = self._last_period_ends(s, norm)
            kept: list[AlertInput] = []
            held_rows: dict[str, IncidentAlert] = {}
            for a in norm:
                if a.fingerprint not in known_alert:
                    continue
                row = s.get(IncidentAlert, known_alert[a.fingerprint])
                assert row is not None
                self._refresh_alert(row, a, now)
                report.duplicates += 1
                if row.incident_id is None and row.state in HELD_STATES:  # held back before: still?
                    decision = hold(a, silences, now, until[a.fingerprint], self._silence_rule(s, row.suppressed_by))
                    if decision is None:
                        kept.append(a)
                        held_rows[a.fingerprint] = row
                    else:
                        row.state, row.suppressed_by = decision[0], silence_ref(decision[1])
            for a in norm:
                if a.fingerprint in known_alert:
                    continue
                decision = hold(a, silences, now, until[a.fingerprint])
                if decision is None:
                    kept.append(a)
                    continue
                s.add(self._alert_row(a, None, now, state=decision[0], suppressed_by=silence_ref(decision[1])))
                report.silenced += 1
            self._into_incidents(s, kept, now, channels, broken, report, held_rows)
            self._mark_handled(s, fps, now)
        return report

    @staticmethod
    def _still_pending(s: Session, alerts: Sequence[AlertInput], *, lock: bool) -> list[AlertInput]:
        """``alerts`` without those whose anomaly has been handled (``lock``: hold their rows,
        ``SELECT ... FOR UPDATE``, until this transaction ends; PostgreSQL then reads the latest
        committed version, SQLite serialises writers anyway)."""
        q = (sa.select(Anomaly.fingerprint, Anomaly.handled_at)
             .where(Anomaly.fingerprint.in_([a.fingerprint for a in alerts])).order_by(Anomaly.fingerprint))
        if lock:  # every row, in one order (two passes lock alike: no deadlock); handled ones are re-read
            q = q.with_for_update()
        done = {fp for fp, handled in s.execute(q) if handled is not None}
        return [a for a in alerts if a.fingerprint not in done]

    def _mark_handled(self, s: Session, fps: Sequence[str], now: dt.datetime) -> None:
        """Record on each anomaly what became of it, in the transaction that did it: the incident
        it opened or joined, or why none (``silenced``, ``maintenance``, ...). An anomaly whose
        pass died before this commit stays pending (``DetectionService.pending``)."""
        if not fps:
            return
        s.flush()
        rows = s.execute(sa.select(IncidentAlert.fingerprint, IncidentAlert.incident_id, IncidentAlert.state)
                         .where(IncidentAlert.fingerprint.in_(fps))).all()
        decisions = {str(fp): incident_ref(iid) if iid is not None else str(state) for fp, iid, state in rows}
        for a in s.scalars(sa.select(Anomaly).where(Anomaly.fingerprint.in_(fps))):
            a.handled_at, a.decision = now, decisions.get(a.fingerprint, "ignored")[:64]

    def _into_incidents(
        self, s: Session, alerts: list[AlertInput], now: dt.datetime, channels: Mapping[str, Any],
        broken: set[str], report: PassReport, held_rows: Mapping[str, IncidentAlert] | None = None,
    ) -> None:
        """Group ``alerts`` with the open incidents of their metric, or open new ones."""
        if not alerts:
            return
        owners = self.owners
        window = parse_duration(owners.sla.group_window)
        metrics = {a.metric for a in alerts}
        tree = self.tree
        q = sa.select(Incident).where(Incident.status.in_(lifecycle.OPEN_STATES))
        if tree is None:
            q = q.where(Incident.metric.in_(metrics))
        open_rows = list(s.scalars(q))
        seen: dict[int, tuple[set[str], list[dict[str, Any]], list[dict[str, str]]]] = {
            i.id: ({i.metric}, [], []) for i in open_rows}
        if tree is not None and open_rows:  # what an open incident holds: related metrics join it
            for iid, m, sl, ex in s.execute(sa.select(IncidentAlert.incident_id, IncidentAlert.metric,
                                                      IncidentAlert.slice, IncidentAlert.explanation)
                                            .where(IncidentAlert.incident_id.in_(list(seen)))):
                seen[iid][0].add(m)
                seen[iid][1].append(dict(sl or {}))
                seen[iid][2].extend(evidence(sl or {}, ex))
        grouping = group_alerts(
            alerts, [OpenIncident(i.id, i.metric, i.window_start, i.window_end, frozenset(seen[i.id][0]),
                                  tuple(seen[i.id][1]), tuple(seen[i.id][2])) for i in open_rows],
            {}, window, tree)
        by_id = {i.id: i for i in open_rows}
        rows = held_rows or {}
        for g in grouping.groups:
            report.new_alerts += len(g.alerts)
            if g.incident_id is None:
                inc = self._open(s, g.metric, g.alerts, now, owners, channels, broken, report, rows)
            else:
                inc = by_id[g.incident_id]
                self._join(s, inc, g.alerts, now, channels, broken, report, rows)
            released = [a.fingerprint for a in g.alerts if a.fingerprint in rows]
            if released:
                self._audit(s, inc, now, "system", "silence_ended", None, {"alerts": released})
            report.inhibited += self._apply_inhibition(s, inc)

    def _attach(self, s: Session, a: AlertInput, inc: Incident, now: dt.datetime,
                rows: Mapping[str, IncidentAlert]) -> None:
        """Record ``a`` under ``inc`` (an alert held back by a silence is moved, not copied)."""
        row = rows.get(a.fingerprint)
        if row is None:
            s.add(self._alert_row(a, inc.id, now))
        else:
            row.incident_id, row.state, row.suppressed_by = inc.id, "active", None

    def _silence_rule(self, s: Session, ref: str | None) -> SilenceRule | None:
        """The silence named by an alert's ``suppressed_by`` (``maintenance:3``), even if over."""
        sid = (ref or "").partition(":")[2]
        row = s.get(Silence, int(sid)) if sid.isdigit() else None
        return None if row is None else SilenceRule(row.id, row.kind, row.metric, row.monitor, row.slice or {},
                                                    row.starts_at, row.ends_at)

    def _last_period_ends(self, s: Session, alerts: Sequence[AlertInput]) -> dict[str, dt.datetime]:
        """When each alert's last abnormal period ends (its last point + one period of its grain,
        from the detection record; the last point itself when the grain is unknown)."""
        fps = [a.fingerprint for a in alerts]
        grains: dict[str, str] = {}
        if fps:
            q = sa.select(Anomaly.fingerprint, Anomaly.grain).where(Anomaly.fingerprint.in_(fps))
            grains = {str(fp): str(g) for fp, g in s.execute(q)}
        out = {}
        for a in alerts:
            g = grains.get(a.fingerprint)
            out[a.fingerprint] = shift_by(a.end, 1, Grain(g)) if g and g in Grain.__members__ else a.end
        return out

    def _release_silenced(self, now: dt.datetime, channels: Mapping[str, Any], report: TickReport) -> None:
        """Alerts held by a silence or maintenance window that has ended: an anomaly that outlasted
        it becomes an incident now; one that was over by then stays on record as ``expired``."""
        with self.ctx.store.session() as s:
            held = list(s.scalars(sa.select(IncidentAlert).where(IncidentAlert.incident_id.is_(None),
                                                                 IncidentAlert.state.in_(SILENCE_KINDS))))
            if not held:
                return
            silences = self._silence_rules(s, now)
            inputs = {r.fingerprint: alert_input(r) for r in held}
            until = self._last_period_ends(s, list(inputs.values()))
            release: dict[str, IncidentAlert] = {}
            for r in held:
                decision = hold(inputs[r.fingerprint], silences, now, until[r.fingerprint],
                                self._silence_rule(s, r.suppressed_by))
                if decision is None:
                    release[r.fingerprint] = r
                elif (decision[0], silence_ref(decision[1])) != (r.state, r.suppressed_by):
                    r.state, r.suppressed_by = decision[0], silence_ref(decision[1])
            if release:
                pr = PassReport()
                self._into_incidents(s, [inputs[fp] for fp in release], now, channels, broken_channels(s), pr,
                                     release)
                self._mark_handled(s, list(release), now)  # the decision is now the incident
                report.fired["silence_ended"] = report.fired.get("silence_ended", 0) + len(release)
                report.notifications += pr.notifications
                report.opened += pr.opened

    def _refresh_alert(self, row: IncidentAlert, a: AlertInput, now: dt.datetime) -> None:
        row.seen_count += 1
        row.last_seen = now
        if a.end > row.end:
            row.end = a.end
        for k in ("actual", "expected", "lower", "upper", "impact"):
            v = getattr(a, k)
            if v is not None:
                setattr(row, k, v)
        if a.explanation is not None:
            row.explanation = a.explanation

    def _alert_row(
        self, a: AlertInput, incident_id: int | None, now: dt.datetime, state: str = "active",
        suppressed_by: str | None = None,
    ) -> IncidentAlert:
        return IncidentAlert(
            fingerprint=a.fingerprint, incident_id=incident_id, monitor=a.monitor, metric=a.metric,
            slice=dict(a.slice), severity=a.severity, start=a.start, end=a.end, actual=a.actual,
            expected=a.expected, lower=a.lower, upper=a.upper, impact=a.impact,
            reason=a.reason.to_dict() if a.reason else None, explanation=a.explanation, state=state,
            suppressed_by=suppressed_by, seen_count=1, first_seen=now, last_seen=now,
        )

    def _silence_rules(self, s: Session, since: dt.datetime) -> list[SilenceRule]:
        rows = s.scalars(sa.select(Silence).where(Silence.ends_at > since))
        return [SilenceRule(r.id, r.kind, r.metric, r.monitor, r.slice or {}, r.starts_at, r.ends_at) for r in rows]

    def _catalog_owners(self, metric: str) -> list[str]:
        try:
            m = self.ctx.catalog.metrics.get(metric)
        except Exception:  # a project whose catalog does not load still tracks incidents
            return []
        return list(m.owners.business) + list(m.owners.technical) if m else []

    def metric_label(self, metric: str, locale: str | None = None) -> str:
        try:
            m = self.ctx.catalog.metrics.get(metric)
        except Exception:
            return metric
        return m.display_label(locale or self.locale) if m else metric

    def _unit(self, metric: str) -> str | None:
        try:
            m = self.ctx.catalog.metrics.get(metric)
        except Exception:
            return None
        if m is None or not m.unit:
            return None
        return "%" if m.unit == "percent" else m.unit.split(":")[-1] if m.unit.startswith("currency") else None

    def _value_format(self, metric: str) -> str | None:
        """The metric's own format spec, so a message reads its figures as its dashboard does."""
        try:
            m = self.ctx.catalog.metrics.get(metric)
        except Exception:
            return None
        return m.format if m is not None and m.format else None

    def _open(
        self, s: Session, metric: str, alerts: list[AlertInput], now: dt.datetime, owners: OwnersFile,
        channels: Mapping[str, Any], broken: set[str], report: PassReport, rows: Mapping[str, IncidentAlert],
    ) -> Incident:
        if self.tree is not None:  # one event on related metrics: the incident is the root metric's
            metric = self.tree.root([a.metric for a in alerts])
        slice_ = common_slice([a.slice for a in alerts])
        basis = cause_of(alerts, metric)
        who = route(owners, metric, slice_, basis[0] if basis else None, self._catalog_owners(metric),
                    basis=basis[1] if basis else "cause")
        sev = worst([a.severity for a in alerts])
        lead = max(alerts, key=lambda a: (a.metric == metric, abs(a.impact or 0.0)))
        inc = Incident(
            metric=metric, title=self._title(metric, slice_), status="triggered", severity=sev,
            slice=slice_, owner=who.owner, team=who.team, rule=who.rule, channels=list(who.channels),
            window_start=min(a.start for a in alerts), window_end=max(a.end for a in alerts),
            triggered_at=now, ack_due_at=now + owners.sla.ack_within(sev),
            resolve_due_at=now + owners.sla.resolve_within(sev), escalation_level=0,
            actual=lead.actual, expected=lead.expected, impact=sum(abs(a.impact or 0.0) for a in alerts) or None,
            explanation=lead.explanation, version=1, updated_at=now,
        )
        s.add(inc)
        s.flush()
        for a in alerts:
            self._attach(s, a, inc, now, rows)
        self._audit(s, inc, now, "system", "opened", None,
                    {"status": "triggered", "owner": who.owner, "team": who.team, "rule": who.rule,
                     "severity": sev, "alerts": len(alerts), "metrics": self._metrics(metric, alerts),
                     "routing": who.routing()})
        self._timer(s, inc, "ack_deadline", inc.ack_due_at or now)
        for i, step in enumerate(owners.escalation):
            self._timer(s, inc, "escalation", now + step.delay, {"step": i})
        self._timer(s, inc, "resolve_deadline", inc.resolve_due_at or now)
        s.flush()
        report.opened.append(inc.id)
        report.notifications += self._notify(s, inc, "alert", "open", now, channels, broken)
        return inc

    def _join(
        self, s: Session, inc: Incident, alerts: list[AlertInput], now: dt.datetime,
        channels: Mapping[str, Any], broken: set[str], report: PassReport, rows: Mapping[str, IncidentAlert],
    ) -> None:
        for a in alerts:
            self._attach(s, a, inc, now, rows)
        if self.tree is not None and any(a.metric != inc.metric for a in alerts):
            root = self._metrics(inc.metric, alerts, inc)[0]  # over every metric it holds now
            if root != inc.metric:  # a metric above the incident's joined: the incident is named by it
                self._audit(s, inc, now, "system", "metric", {"metric": inc.metric},
                            {"metric": root, "metrics": self._metrics(root, [], inc)})
                leads = [a for a in alerts if a.metric == root]
                if leads:
                    lead = max(leads, key=lambda a: abs(a.impact or 0.0))
                    inc.actual, inc.expected = lead.actual, lead.expected
                inc.metric = root
                inc.title = self._title(root, inc.slice or {})
        s.flush()
        scope = common_slice([dict(sl or {}) for sl in s.scalars(
            sa.select(IncidentAlert.slice).where(IncidentAlert.incident_id == inc.id))])
        if scope != (inc.slice or {}):  # alerts on other slices joined: the incident is about what they share
            self._audit(s, inc, now, "system", "slice", {"slice": inc.slice}, {"slice": scope})
            inc.slice = scope
            inc.title = self._title(inc.metric, scope)
        before = {"severity": inc.severity, "window_end": inc.window_end.isoformat()}
        inc.window_start = min(inc.window_start, *(a.start for a in alerts))
        inc.window_end = max(inc.window_end, *(a.end for a in alerts))
        inc.impact = (inc.impact or 0.0) + sum(abs(a.impact or 0.0) for a in alerts) or None
        new_sev = worst([inc.severity, *(a.severity for a in alerts)])
        self._audit(s, inc, now, "system", "alert", before,
                    {"severity": new_sev, "window_end": inc.window_end.isoformat(),
                     "alerts": [a.fingerprint for a in alerts]})
        if new_sev != inc.severity:
            inc.severity = new_sev
            report.notifications += self._notify(s, inc, "alert", f"sev-{new_sev}", now, channels, broken)
        inc.version += 1
        inc.updated_at = now
        if inc.id not in report.updated:
            report.updated.append(inc.id)

    def _title(self, metric: str, slice_: Mapping[str, Any]) -> str:
        label = self.metric_label(metric)
        sl = ", ".join(f"{k}={v}" for k, v in slice_.items())
        return f"{label} · {sl}" if sl else label

    def _metrics(self, root: str, alerts: Sequence[AlertInput], inc: Incident | None = None) -> list[str]:
        """The metrics of an incident, root first (its own alerts' and, for a stored one, theirs)."""
        names = [root, *(a.metric for a in alerts)]
        if inc is not None:
            s = sa.orm.object_session(inc)
            if s is not None:
                names += list(s.scalars(sa.select(IncidentAlert.metric).where(IncidentAlert.incident_id == inc.id)
                                        .order_by(IncidentAlert.start, IncidentAlert.id)))
        names = list(dict.fromkeys(names))
        return self.tree.ordered(names) if self.tree is not None else names

    def route_by_cause(self, ids: Sequence[int], fingerprints: Sequence[str] = (),
                       now: dt.datetime | None = None) -> list[int]:
        """Hand each incident to the owner of the cause its explanation now names, while nobody has
        acted on it; returns the incidents whose owner changed.

        Why: an incident opens on its first alerts, whose own window may be too short to name a
        cause; once the re-explanation over its whole window does (or finds one leading slice that
        carries most of the change: :func:`~metricloop.workflow.routing.routing_basis`), the
        owners.yaml rules are applied to it (:func:`~metricloop.workflow.owners.route`). Only an incident still
        *triggered* that no person has assigned or moved is handed over (the new owner is told; the
        audit records why); a changed reason with the same owner is recorded too. Each incident in
        its own transaction, after the pass's exactly-once one: a crash here leaves the earlier
        owner, and the next pass that re-explains the incident routes it again.
        """
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        targets = list(ids)
        channels = self._channel_map()
        with self.ctx.store.session() as s:
            if fingerprints:
                targets += [i for i in s.scalars(sa.select(IncidentAlert.incident_id).where(
                    IncidentAlert.fingerprint.in_(list(fingerprints)), IncidentAlert.incident_id.is_not(None)))
                    if i is not None]
        moved: list[int] = []
        for incident_id in dict.fromkeys(targets):
            with self.ctx.store.session() as s:
                inc = s.get(Incident, incident_id, with_for_update=True)
                if inc is None or inc.status != "triggered":
                    continue
                basis = routing_basis(inc.explanation)
                if not basis:
                    continue
                audit = [audit_dict(e) for e in s.scalars(sa.select(AuditEvent).where(
                    AuditEvent.incident_id == inc.id).order_by(AuditEvent.at, AuditEvent.id))]
                if any(e["actor"] != "system" and e["kind"] in ("assign", "transition") for e in audit):
                    continue  # a person has taken it in hand
                who = route(self.owners, inc.metric, inc.slice or {}, basis[0], self._catalog_owners(inc.metric),
                            basis=basis[1])
                previous = routing_of(audit) or {}
                if who.owner == inc.owner:
                    if previous.get("rule") != who.rule or previous.get("by") != who.by:
                        self._audit(s, inc, now, "system", "routing", None, {"routing": who.routing()})
                    continue
                before = {"owner": inc.owner, "team": inc.team, "rule": inc.rule}
                inc.owner, inc.team, inc.rule, inc.channels = who.owner, who.team, who.rule, list(who.channels)
                inc.version += 1
                inc.updated_at = now
                self._audit(s, inc, now, "system", "assign", before,
                            {"owner": who.owner, "team": who.team, "rule": who.rule, "routing": who.routing()})
                self._notify(s, inc, "alert", f"route{inc.version}", now, channels, broken_channels(s))
                moved.append(inc.id)
        return moved

    def _apply_inhibition(self, s: Session, inc: Incident) -> int:
        rows = list(s.scalars(sa.select(IncidentAlert).where(IncidentAlert.incident_id == inc.id,
                                                              IncidentAlert.state.in_(("active", "inhibited")))))
        parent_of = inhibited([r.slice or {} for r in rows])
        changed = 0
        for i, r in enumerate(rows):
            if i in parent_of:
                ref = f"parent:{rows[parent_of[i]].fingerprint}"
                if r.state != "inhibited":
                    r.state, r.suppressed_by = "inhibited", ref
                    changed += 1
            elif r.state == "inhibited":
                r.state, r.suppressed_by = "active", None
        return changed

    # ------------------------------------------------------------------ notifications
    def _mentions(self, *people: str | None) -> list[Mention]:
        out: list[Mention] = []
        for pid in dict.fromkeys(p for p in people if p):
            p = self.owners.person(pid)
            out.append(p.mention() if p else Mention(name=pid))
        return out

    def _causes(self, inc: Incident) -> list[str]:
        causes = (inc.explanation or {}).get("causes") or []
        out = []
        for c in causes[:5]:
            if isinstance(c, Mapping):
                out.append(pick({str(k): str(v) for k, v in c.items()}, self.locale, str(next(iter(c.values()), ""))))
            else:
                out.append(str(c))
        return out

    def notification(self, inc: Incident, kind: str, now: dt.datetime, *, to: str | None = None,
                     note: str | None = None, level: int | None = None) -> Notification:
        """The channel-neutral message about ``inc`` (with signed ack / resolve links)."""
        actor = to or inc.owner or "anyone"
        expires = now + LINK_TTL
        links: dict[str, str] = {}
        wanted = {"ack": ("triggered",), "resolve": ("triggered", "acknowledged", "investigating", "mitigated")}
        for action, states in wanted.items():
            if inc.status in states:
                tok = make_action_token(incident_ref(inc.id), action, actor, expires, self.action_secret)
                links[action] = action_url(self.base_url, incident_ref(inc.id), action, tok)
        return Notification(
            kind=kind,
            metric=self.metric_label(inc.metric),
            severity=inc.severity,
            slice={str(k): str(v) for k, v in (inc.slice or {}).items()},
            value=inc.actual,
            expected=inc.expected,
            unit=self._unit(inc.metric),
            value_format=self._value_format(inc.metric),
            observed_at=inc.window_end.astimezone(self.tz),
            causes=self._causes(inc),
            mentions=self._mentions(to or inc.owner),
            incident_id=incident_ref(inc.id),
            incident_url=f"{self.base_url}/incidents/{inc.id}",
            ack_url=links.get("ack"),
            resolve_url=links.get("resolve"),
            escalation_level=level,
            note=note,
        )

    def _notify(
        self, s: Session, inc: Incident, kind: str, event: str, now: dt.datetime,
        channels: Mapping[str, Any], broken: set[str], *, to: str | None = None, note: str | None = None,
        level: int | None = None,
    ) -> int:
        """One outbox row per channel of the incident, in the caller's transaction."""
        n = self.notification(inc, kind, now, to=to, note=note, level=level)
        count = 0
        for ch in inc.channels or []:
            enqueue(s, idempotency_id=message_id(f"inc{inc.id}", event, ch), target=ch, notification=n,
                    now=now, channels=channels, broken=broken, incident_id=inc.id)
            count += 1
        return count

    # ------------------------------------------------------------------ audit & timers
    def _audit(self, s: Session, inc: Incident, at: dt.datetime, actor: str, kind: str,
               before: dict[str, Any] | None, after: dict[str, Any] | None, comment: str | None = None) -> None:
        s.add(AuditEvent(incident_id=inc.id, at=at, actor=actor, kind=kind, before=before, after=after,
                         comment=comment))

    def _timer(self, s: Session, inc: Incident, kind: str, due: dt.datetime,
               payload: dict[str, Any] | None = None, action_id: int | None = None) -> None:
        s.add(Timer(incident_id=inc.id, kind=kind, due_at=due, payload=payload or {}, state="pending",
                    action_id=action_id))

    def _cancel_timers(self, s: Session, inc: Incident, kinds: Sequence[str], now: dt.datetime) -> None:
        s.execute(sa.update(Timer).where(Timer.incident_id == inc.id, Timer.state == "pending",
                                         Timer.kind.in_(kinds)).values(state="cancelled", fired_at=now))

    # ------------------------------------------------------------------ tick
    def tick(self, now: dt.datetime | None = None, limit: int = 1000) -> TickReport:
        """Fire every stored deadline due at ``now``; each timer in its own transaction with the
        notifications it causes, so a crash never fires one twice or loses one."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        report = TickReport()
        channels = self._channel_map()
        self._release_silenced(now, channels, report)
        while True:
            with self.ctx.store.session() as s:
                ids = list(s.scalars(sa.select(Timer.id).where(Timer.state == "pending", Timer.due_at <= now)
                                     .order_by(Timer.due_at, Timer.id).limit(limit)))
            if not ids:
                return report
            for tid in ids:
                with self.ctx.store.session() as s:
                    t = s.scalars(sa.select(Timer).where(Timer.id == tid, Timer.state == "pending")
                                  .with_for_update(skip_locked=True)).first()
                    if t is None:
                        continue
                    inc = s.get(Incident, t.incident_id)
                    t.state, t.fired_at = "fired", now
                    if inc is None:
                        continue
                    n = self._fire(s, t, inc, now, channels, broken_channels(s))
                    report.fired[t.kind] = report.fired.get(t.kind, 0) + 1
                    report.notifications += n

    def _fire(self, s: Session, t: Timer, inc: Incident, now: dt.datetime, channels: Mapping[str, Any],
              broken: set[str]) -> int:
        owners = self.owners
        at = t.due_at
        loc = self.locale
        if t.kind == "ack_deadline":
            if inc.status != "triggered":
                return 0
            self._audit(s, inc, at, "system", "ack_sla_breached", None, {"due": at.isoformat()})
            return 0  # the escalation chain does the talking
        if t.kind == "ack_timeout":  # acknowledged, then nothing: back to triggered, the chain restarts
            if inc.status != "acknowledged":
                return 0
            return self._apply(s, inc, "retrigger", actor="system", now=at, channels=channels)
        if t.kind == "escalation":
            if inc.status != "triggered":
                return 0
            step_no = int(t.payload.get("step", 0))
            if step_no >= len(owners.escalation):
                return 0
            step = owners.escalation[step_no]
            target = escalation_target(owners, step, inc.owner, inc.team)
            before = {"escalation_level": inc.escalation_level}
            inc.escalation_level = step_no + 1
            inc.version += 1
            self._audit(s, inc, at, "system", "escalate", before,
                        {"escalation_level": inc.escalation_level, "to": target, "role": step.to})
            return self._notify(s, inc, "escalation", f"esc{step_no + 1}", now, channels, broken,
                                to=target, level=step_no + 1)
        if t.kind == "resolve_deadline":
            if inc.status not in ("triggered", "acknowledged", "investigating", "mitigated"):
                return 0
            self._audit(s, inc, at, "system", "resolve_sla_breached", None, {"due": at.isoformat()})
            return self._notify(s, inc, "reminder", "resolve-due", now, channels, broken,
                                note=MSG["resolve_breach"].render(loc))
        if t.kind == "reminder":
            if inc.status not in ("acknowledged", "investigating", "mitigated"):
                return 0
            n = int(t.payload.get("n", 1))
            if n < owners.sla.max_reminders:
                self._timer(s, inc, "reminder", at + parse_duration(owners.sla.remind_every), {"n": n + 1})
            return self._notify(s, inc, "reminder", f"remind{n}", now, channels, broken)
        if t.kind == "action_due":
            act = s.get(ActionItem, t.action_id) if t.action_id else None
            if act is None or act.status in ("done", "cancelled"):
                return 0
            self._audit(s, inc, at, "system", "action_overdue", None, {"action": act.id, "title": act.title})
            return self._notify(s, inc, "reminder", f"action{act.id}-due", now, channels, broken,
                                to=act.owner or inc.owner, note=MSG["action_due"].render(loc, title=act.title))
        if t.kind == "review_due":
            from metricloop.store.workflow_models import Review

            rv = s.scalars(sa.select(Review).where(Review.incident_id == inc.id)).first()
            if rv is not None and rv.status == "completed":
                return 0
            self._audit(s, inc, at, "system", "review_overdue", None, None)
            return self._notify(s, inc, "reminder", "review-due", now, channels, broken,
                                note=MSG["review_due"].render(loc))
        return 0

    # ------------------------------------------------------------------ dispatch
    def dispatch(
        self,
        now: dt.datetime | None = None,
        *,
        notifier: Notifier | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        lease_s: float = 120.0,
    ) -> DispatchReport:
        """Deliver the due outbox rows; broken channels and undeliverable messages are written to
        the incidents' audit trail."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        own = notifier is None
        notifier = notifier or Notifier()
        try:
            d = Dispatcher(self.ctx.store, self.channels_file.by_name(), notifier, policy=policy, rng=rng,
                           lease_s=lease_s)
            report = d.run_once(now)
        finally:
            if own:
                notifier.close()
        if report.events:
            with self.ctx.store.session() as s:
                for ev in report.events:
                    inc_id = ev.get("incident_id")
                    inc = s.get(Incident, inc_id) if isinstance(inc_id, int) else None
                    if inc is not None:
                        self._audit(s, inc, now, "system", str(ev["kind"]), None,
                                    {k: v for k, v in ev.items() if k != "kind"})
        return report

    # ------------------------------------------------------------------ human actions
    def _get(self, s: Session, ref: str | int, *, lock: bool = False) -> Incident:
        """The incident row; ``lock`` holds it (SELECT ... FOR UPDATE) until the transaction ends,
        so two people acting at once are applied one after the other, each seeing the other's."""
        inc = s.get(Incident, parse_incident_id(ref), with_for_update=lock)
        if inc is None:
            raise NotFoundError(f"no incident {ref}", zh=f"没有事件 {ref}")
        return inc

    def act(self, ref: str | int, action: str, *, actor: str, now: dt.datetime | None = None,
            comment: str | None = None, duplicate_of: str | int | None = None) -> dict[str, Any]:
        """Apply a declared transition (ack, investigate, mitigate, resolve, close, reopen,
        false_positive, duplicate); audit it and adjust timers and notifications."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        dup = parse_incident_id(duplicate_of) if duplicate_of is not None else None
        channels = self._channel_map()
        with self.ctx.store.session() as s:
            inc = self._get(s, ref, lock=True)
            self._apply(s, inc, action, actor=actor, now=now, comment=comment, dup=dup, channels=channels)
            return self._incident_dict(inc)

    def _apply(self, s: Session, inc: Incident, action: str, *, actor: str, now: dt.datetime,
               comment: str | None = None, dup: int | None = None, channels: Mapping[str, Any]) -> int:
        """One transition inside the caller's transaction: state, audit, timers, messages (their
        number is returned)."""
        if dup is not None and s.get(Incident, dup) is None:
            raise NotFoundError(f"no incident {incident_ref(dup)} to be a duplicate of",
                                zh=f"被重复的事件 {incident_ref(dup)} 不存在")
        owners = self.owners
        before = inc.status
        target = lifecycle.transition(before, action, comment=comment, duplicate_of=dup)
        inc.status = target
        inc.version += 1
        inc.updated_at = now
        if target == "acknowledged" and inc.acknowledged_at is None:
            inc.acknowledged_at = now
        if target == "mitigated" and inc.mitigated_at is None:
            inc.mitigated_at = now
        if target == "verifying":
            inc.resolved_at = inc.resolved_at or now
            inc.resolution = comment
        if target in lifecycle.TERMINAL_STATES:
            inc.closed_at = now
            inc.resolved_at = inc.resolved_at or now
        if target == "duplicate":
            inc.duplicate_of = dup
        if target in ("investigating", "mitigated", "verifying") and inc.acknowledged_at is None:
            inc.acknowledged_at = now  # working on it counts as acknowledging it
        self._audit(s, inc, now, actor, "transition", {"status": before}, {"status": target, "action": action},
                    comment)
        broken = broken_channels(s)
        sent = 0
        self._cancel_timers(s, inc, ("ack_timeout",), now)  # any move ends the wait for progress
        if target != "triggered":
            self._cancel_timers(s, inc, ("ack_deadline", "escalation"), now)
        if target == "acknowledged":
            if owners.sla.max_reminders > 0:
                self._timer(s, inc, "reminder", now + parse_duration(owners.sla.remind_every), {"n": 1})
            timeout = owners.sla.ack_timeout_delta
            if timeout is not None:
                self._timer(s, inc, "ack_timeout", now + timeout)
        if target in ("verifying", *lifecycle.TERMINAL_STATES):
            self._cancel_timers(s, inc, ("reminder", "resolve_deadline"), now)
        if target == "verifying":
            sent += self._notify(s, inc, "resolved", "resolved", now, channels, broken, note=comment)
        if target in lifecycle.TERMINAL_STATES:
            self._cancel_timers(s, inc, ("ack_deadline", "escalation", "reminder", "resolve_deadline"), now)
        if target == "closed":
            self._timer(s, inc, "review_due", now + parse_duration(owners.sla.review_due))
        if target == "triggered":  # re-triggered: a new ack deadline, the chain starts again, owner told again
            self._cancel_timers(s, inc, ("reminder",), now)
            inc.escalation_level = 0
            inc.ack_due_at = now + owners.sla.ack_within(inc.severity)
            self._timer(s, inc, "ack_deadline", inc.ack_due_at)
            for i, step in enumerate(owners.escalation):
                self._timer(s, inc, "escalation", now + step.delay, {"step": i})
            sent += self._notify(s, inc, "alert", f"retrigger{inc.version}", now, channels, broken,
                                 note=comment or MSG["retriggered"].render(self.locale))
        s.flush()
        return sent

    def assign(self, ref: str | int, owner: str, *, actor: str, now: dt.datetime | None = None,
               comment: str | None = None) -> dict[str, Any]:
        """Hand the incident to another person (must be in owners.yaml)."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        if owner not in self.owners.people:
            known = ", ".join(sorted(self.owners.people)) or "none"
            raise NotFoundError(f"unknown person {owner!r} (owners.yaml people: {known})",
                                zh=f"owners.yaml 中没有人员 {owner!r}")
        with self.ctx.store.session() as s:
            inc = self._get(s, ref)
            before = {"owner": inc.owner, "team": inc.team}
            inc.owner, inc.team = owner, self.owners.team_of(owner) or inc.team
            inc.version += 1
            inc.updated_at = now
            self._audit(s, inc, now, actor, "assign", before, {"owner": inc.owner, "team": inc.team}, comment)
            return self._incident_dict(inc)

    def comment(self, ref: str | int, text: str, *, actor: str, now: dt.datetime | None = None) -> None:
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        with self.ctx.store.session() as s:
            inc = self._get(s, ref)
            self._audit(s, inc, now, actor, "comment", None, None, text)

    def action_link(self, ref: str | int, action: str, actor: str, now: dt.datetime | None = None,
                    ttl: dt.timedelta = LINK_TTL) -> str:
        """A signed, expiring, single-use link for ``action`` (what chat buttons open)."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        ref_s = incident_ref(parse_incident_id(ref))
        tok = make_action_token(ref_s, action, actor, now + ttl, self.action_secret)
        return action_url(self.base_url, ref_s, action, tok)

    def act_with_token(self, token: str, *, now: dt.datetime | None = None, incident: str | None = None,
                       action: str | None = None, comment: str | None = None) -> dict[str, Any]:
        """Spend a link token (single use, DB-backed) and apply its action as its actor.

        Spending and acting are ONE transaction: when the action is refused because the incident
        moved on since the message was sent (:class:`IncidentMoved`), nothing changes and the
        token stays unspent; a second click of the same link finds it used (ConflictError)."""
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        claim = verify_action_token(token, self.action_secret, DbUsedTokens(self.ctx.store), now=now,
                                    incident_id=incident, action=action, consume=False)
        note = comment or ("resolved from a chat link" if claim.action == "resolve" else None)
        channels = self._channel_map()
        with self.ctx.store.session() as s:
            inc = self._get(s, claim.incident_id, lock=True)
            s.add(UsedActionToken(jti=claim.jti, expires_at=claim.expires_at, used_at=now))
            try:
                s.flush()  # the primary key on jti: of two simultaneous clicks, one wins
            except sa.exc.IntegrityError:
                raise ConflictError("the action link was already used", zh="操作链接已被使用") from None
            self._check_link_action(s, inc, claim.action)
            if claim.action == "resolve" and inc.status == "triggered":
                self._apply(s, inc, "ack", actor=claim.actor, now=now, channels=channels)  # resolving implies seeing it
            self._apply(s, inc, claim.action, actor=claim.actor, now=now, comment=note, channels=channels)
            return self._incident_dict(inc)

    def link_problem(self, ref: str | int, action: str) -> IncidentMoved | None:
        """Why a chat link's ``action`` no longer applies to the incident (None when it does);
        the confirmation page says so before anyone clicks."""
        with self.ctx.store.session() as s:
            try:
                self._check_link_action(s, self._get(s, ref), action)
            except IncidentMoved as exc:
                return exc
        return None

    def _check_link_action(self, s: Session, inc: Incident, action: str) -> None:
        allowed = lifecycle.allowed_actions(inc.status)
        if action in allowed or (action == "resolve" and inc.status == "triggered"):
            return
        last = s.scalars(sa.select(AuditEvent).where(AuditEvent.incident_id == inc.id,
                                                     AuditEvent.kind == "transition")
                         .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1)).first()
        raise IncidentMoved(incident_ref(inc.id), inc.status, action,
                            by=self.owners.display(last.actor) if last and last.actor != "system" else None,
                            at=last.at.astimezone(self.tz) if last else None)

    # ------------------------------------------------------------------ action items
    def add_action(self, ref: str | int, title: str, *, actor: str, owner: str | None = None,
                   due: dt.datetime | None = None, expected_effect: str | None = None, link: str | None = None,
                   now: dt.datetime | None = None) -> dict[str, Any]:
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        if owner is not None and owner not in self.owners.people:
            raise NotFoundError(f"unknown person {owner!r} in owners.yaml", zh=f"owners.yaml 中没有人员 {owner!r}")
        with self.ctx.store.session() as s:
            inc = self._get(s, ref)
            item = ActionItem(incident_id=inc.id, title=title, owner=owner or inc.owner,
                              due_at=as_utc(due, self.tz) if due else None, status="open",
                              expected_effect=expected_effect, link=link, created_at=now)
            s.add(item)
            s.flush()
            if item.due_at is not None:
                self._timer(s, inc, "action_due", item.due_at, action_id=item.id)
            self._audit(s, inc, now, actor, "action", None, {"action": item.id, "title": title, "owner": item.owner,
                                                             "due": item.due_at.isoformat() if item.due_at else None})
            return action_dict(item)

    def update_action(self, action_id: int, *, actor: str, status: str | None = None,
                      effective_at: dt.datetime | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        if status is not None and status not in ACTION_STATUSES:
            raise ConfigError(f"status {status!r} is not one of {', '.join(ACTION_STATUSES)}",
                              zh=f"状态 {status!r} 不是 {', '.join(ACTION_STATUSES)} 之一")
        with self.ctx.store.session() as s:
            item = s.get(ActionItem, action_id)
            if item is None:
                raise NotFoundError(f"no action item {action_id}", zh=f"没有行动项 {action_id}")
            inc = s.get(Incident, item.incident_id)
            assert inc is not None
            before = {"status": item.status}
            if status is not None:
                item.status = status
                if status == "done":
                    item.done_at = now
                    item.effective_at = item.effective_at or now
            if effective_at is not None:
                item.effective_at = as_utc(effective_at, self.tz)
            self._audit(s, inc, now, actor, "action", before, {"action": item.id, "status": item.status})
            return action_dict(item)

    # ------------------------------------------------------------------ silences
    def add_silence(self, *, starts_at: dt.datetime, ends_at: dt.datetime, actor: str, metric: str = "*",
                    monitor: str = "*", slice: Mapping[str, str] | None = None, kind: str = "silence",
                    comment: str | None = None) -> dict[str, Any]:
        if kind not in ("silence", "maintenance"):
            raise ConfigError(f"kind {kind!r} is not one of silence, maintenance")
        start, end = as_utc(starts_at, self.tz), as_utc(ends_at, self.tz)
        if end <= start:
            raise ConfigError("a silence must end after it starts", zh="静默结束时间必须晚于开始时间")
        with self.ctx.store.session() as s:
            row = Silence(kind=kind, metric=metric, monitor=monitor, slice=dict(slice or {}), starts_at=start,
                          ends_at=end, created_by=actor, comment=comment, created_at=dt.datetime.now(UTC))
            s.add(row)
            s.flush()
            return silence_dict(row)

    def silences(self, active_at: dt.datetime | None = None) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            q = sa.select(Silence).order_by(Silence.starts_at)
            if active_at is not None:
                t = as_utc(active_at, self.tz)
                q = q.where(Silence.starts_at <= t, Silence.ends_at > t)
            return [silence_dict(r) for r in s.scalars(q)]

    def expire_silence(self, silence_id: int, now: dt.datetime | None = None) -> None:
        now = as_utc(now or dt.datetime.now(UTC), self.tz)
        with self.ctx.store.session() as s:
            row = s.get(Silence, silence_id)
            if row is None:
                raise NotFoundError(f"no silence {silence_id}", zh=f"没有静默规则 {silence_id}")
            row.ends_at = min(row.ends_at, now)

    # ------------------------------------------------------------------ reading
    def _incident_dict(self, inc: Incident) -> dict[str, Any]:
        owners = self.owners
        return {
            "id": incident_ref(inc.id), "number": inc.id, "metric": inc.metric, "title": inc.title,
            "status": inc.status, "status_label": lifecycle.STATE_LABELS[inc.status].render(self.locale),
            "severity": inc.severity, "slice": inc.slice, "owner": inc.owner,
            "owner_name": owners.display(inc.owner), "team": inc.team, "rule": inc.rule, "channels": inc.channels,
            "window_start": inc.window_start, "window_end": inc.window_end, "triggered_at": inc.triggered_at,
            "acknowledged_at": inc.acknowledged_at, "mitigated_at": inc.mitigated_at,
            "resolved_at": inc.resolved_at, "closed_at": inc.closed_at, "ack_due_at": inc.ack_due_at,
            "resolve_due_at": inc.resolve_due_at, "escalation_level": inc.escalation_level,
            "duplicate_of": incident_ref(inc.duplicate_of) if inc.duplicate_of else None,
            "actual": inc.actual, "expected": inc.expected, "impact": inc.impact,
            "causes": self._causes(inc), "cause": cause_slice(inc.explanation), "resolution": inc.resolution,
            "allowed_actions": lifecycle.allowed_actions(inc.status), "version": inc.version,
        }

    def list_incidents(self, *, status: Sequence[str] | None = None, owner: str | None = None,
                       team: str | None = None, metric: str | None = None, open_only: bool = False,
                       limit: int = 200) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            q = sa.select(Incident).order_by(Incident.triggered_at.desc(), Incident.id.desc()).limit(limit)
            if status:
                q = q.where(Incident.status.in_(list(status)))
            if open_only:
                q = q.where(Incident.status.in_(lifecycle.OPEN_STATES))
            if owner:
                q = q.where(Incident.owner == owner)
            if team:
                q = q.where(Incident.team == team)
            if metric:
                q = q.where(Incident.metric == metric)
            return [self._incident_dict(i) for i in s.scalars(q)]

    def incident(self, ref: str | int) -> dict[str, Any]:
        """Everything about one incident: alerts, audit trail, timers, actions, messages."""
        with self.ctx.store.session() as s:
            inc = self._get(s, ref)
            out = self._incident_dict(inc)
            out["alerts"] = [alert_dict(a) for a in s.scalars(
                sa.select(IncidentAlert).where(IncidentAlert.incident_id == inc.id).order_by(IncidentAlert.start))]
            out["audit"] = [audit_dict(e) for e in s.scalars(
                sa.select(AuditEvent).where(AuditEvent.incident_id == inc.id).order_by(AuditEvent.at, AuditEvent.id))]
            out["metrics"] = self._metrics(inc.metric, [], inc)
            out["routing"] = routing_of(out["audit"])
            reason = (out["routing"] or {}).get("reason")
            out["routing_reason"] = (pick({str(k): str(v) for k, v in reason.items()}, self.locale, "") or None
                                     if isinstance(reason, Mapping) else None)
            out["explanation"] = inc.explanation
            out["timers"] = [{"kind": t.kind, "due_at": t.due_at, "state": t.state, "payload": t.payload}
                             for t in s.scalars(sa.select(Timer).where(Timer.incident_id == inc.id)
                                                .order_by(Timer.due_at))]
            out["actions"] = [action_dict(a) for a in s.scalars(
                sa.select(ActionItem).where(ActionItem.incident_id == inc.id).order_by(ActionItem.id))]
            out["messages"] = [{"id": m.id, "kind": m.kind, "target": m.target, "channel": m.channel,
                                "status": m.status, "attempts": m.attempts, "covered_by": m.covered_by,
                                "last_error": m.last_error}
                               for m in s.scalars(sa.select(OutboxMessage).where(OutboxMessage.incident_id == inc.id)
                                                  .order_by(OutboxMessage.created_at))]
            return out

    def outbox(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self.ctx.store.session() as s:
            q = sa.select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(limit)
            if status:
                q = q.where(OutboxMessage.status == status)
            return [{"id": m.id, "incident": incident_ref(m.incident_id) if m.incident_id else None,
                     "kind": m.kind, "target": m.target, "channel": m.channel, "status": m.status,
                     "attempts": m.attempts, "next_attempt_at": m.next_attempt_at,
                     "delivered_at": m.delivered_at, "covered_by": m.covered_by, "last_error": m.last_error}
                    for m in s.scalars(q)]


def alert_input(a: IncidentAlert) -> AlertInput:
    """A stored alert as the workflow's input again (for one released from a silence)."""
    return AlertInput(fingerprint=a.fingerprint, monitor=a.monitor, metric=a.metric, slice=dict(a.slice or {}),
                      start=a.start, end=a.end, severity=a.severity, actual=a.actual, expected=a.expected,
                      lower=a.lower, upper=a.upper, impact=a.impact, explanation=a.explanation)


def alert_dict(a: IncidentAlert) -> dict[str, Any]:
    return {"fingerprint": a.fingerprint, "monitor": a.monitor, "metric": a.metric, "slice": a.slice,
            "severity": a.severity, "start": a.start, "end": a.end, "actual": a.actual, "expected": a.expected,
            "lower": a.lower, "upper": a.upper, "impact": a.impact, "reason": a.reason, "state": a.state,
            "suppressed_by": a.suppressed_by, "seen_count": a.seen_count}


def audit_dict(e: AuditEvent) -> dict[str, Any]:
    return {"at": e.at, "actor": e.actor, "kind": e.kind, "before": e.before, "after": e.after,
            "comment": e.comment}


def action_dict(a: ActionItem) -> dict[str, Any]:
    return {"id": a.id, "incident": incident_ref(a.incident_id), "title": a.title, "owner": a.owner,
            "due_at": a.due_at, "status": a.status, "expected_effect": a.expected_effect, "link": a.link,
            "effective_at": a.effective_at, "created_at": a.created_at, "done_at": a.done_at}


def silence_dict(r: Silence) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "metric": r.metric, "monitor": r.monitor, "slice": r.slice,
            "starts_at": r.starts_at, "ends_at": r.ends_at, "created_by": r.created_by, "comment": r.comment}
