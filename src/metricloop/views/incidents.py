"""Incidents as people read them: the board, one incident's story (alerts, timeline, actions,
messages, timers), in the reader's language and the project's timezone.

The API returns these models (``GET /incidents/board``, ``GET /incidents/{ref}``) and the UI draws
the same ones; only incidents the reader may see (:mod:`metricloop.views.scope`) are listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from metricloop.access.policy import Principal
from metricloop.i18n import pick
from metricloop.localtime import Instant, local_times
from metricloop.store.explain_models import Explanation
from metricloop.store.workflow_models import Review
from metricloop.views import scope
from metricloop.workflow import lifecycle
from metricloop.workflow.bands import bounded, metric_bounds

if TYPE_CHECKING:
    from metricloop.service import MetricLoop

SCAN = 5000
BOARD_COLUMNS = ("triggered", "acknowledged", "investigating", "mitigated", "verifying", "done")
INCIDENT_TIMES = ("window_start", "window_end", "triggered_at", "acknowledged_at", "mitigated_at", "resolved_at",
                  "closed_at", "ack_due_at", "resolve_due_at")


class IncidentSummary(BaseModel):
    """One incident as the board shows it."""

    id: str = Field(description="INC-n")
    number: int
    metric: str
    metric_label: str
    title: str
    status: str = Field(description="triggered | acknowledged | investigating | mitigated | verifying | closed | "
                                    "false_positive | duplicate")
    status_label: str
    severity: str = Field(description="critical | high | medium | low | info")
    slice: dict[str, Any]
    owner: str | None = Field(description="Person id in owners.yaml.")
    owner_name: str | None = Field(description="The owner's display name, e.g. 王芳.")
    team: str | None
    team_name: str | None
    window_start: Instant
    window_end: Instant
    triggered_at: Instant
    acknowledged_at: Instant | None
    mitigated_at: Instant | None
    resolved_at: Instant | None
    closed_at: Instant | None
    ack_due_at: Instant | None
    resolve_due_at: Instant | None
    overdue: bool = Field(description="Open and past its resolve deadline (or unacknowledged past its ack deadline).")
    escalation_level: int
    duplicate_of: str | None
    actual: float | None
    expected: float | None
    impact: float | None
    causes: list[str] = Field(description="Top causes from cause analysis, in the reader's language.")
    resolution: str | None
    allowed_actions: list[str] = Field(description="Actions legal in the current state (the buttons to show).")
    version: int

    @classmethod
    def of(cls, d: Mapping[str, Any], tz: dt.tzinfo, *, metric_label: str, team_name: str | None,
           now: dt.datetime) -> IncidentSummary:
        keys = set(cls.model_fields)
        out = local_times({k: v for k, v in d.items() if k in keys}, tz, INCIDENT_TIMES)
        return cls(**out, metric_label=metric_label, team_name=team_name, overdue=is_overdue(d, now))


def is_overdue(d: Mapping[str, Any], now: dt.datetime) -> bool:
    """Open and past a deadline: unacknowledged past the ack deadline, or unresolved past the resolve one."""
    status = d["status"]
    if status in ("closed", "false_positive", "duplicate", "verifying"):
        return False
    if status == "triggered" and d.get("ack_due_at") is not None and now > d["ack_due_at"]:
        return True
    return bool(d.get("resolve_due_at") is not None and now > d["resolve_due_at"])


class AlertOut(BaseModel):
    fingerprint: str
    monitor: str
    metric: str
    slice: dict[str, Any]
    severity: str
    start: Instant
    end: Instant
    actual: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    impact: float | None
    reason: dict[str, str] | None
    state: str
    suppressed_by: str | None
    seen_count: int


class TimelineEntry(BaseModel):
    """One audit event: who did what, when (every change of an incident is here)."""

    at: Instant
    actor: str
    actor_name: str = Field(description="Display name of the actor (王芳), or 'system'.")
    kind: str = Field(description="opened | alert | transition | assign | escalate | comment | action | ...")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    comment: str | None


class ActionItemOut(BaseModel):
    id: int
    incident: str
    title: str
    owner: str | None
    owner_name: str | None = None
    due_at: Instant | None
    status: str
    expected_effect: str | None
    link: str | None
    effective_at: Instant | None
    created_at: Instant
    done_at: Instant | None

    @classmethod
    def of(cls, d: Mapping[str, Any], tz: dt.tzinfo, owner_name: str | None) -> ActionItemOut:
        return cls(**local_times(d, tz, ("due_at", "effective_at", "created_at", "done_at")), owner_name=owner_name)


class MessageOut(BaseModel):
    id: str
    kind: str
    target: str = Field(description="The channel it was addressed to.")
    channel: str = Field(description="Where it goes now (after fallbacks).")
    status: str
    attempts: int
    covered_by: str | None
    last_error: str | None


class TimerOut(BaseModel):
    kind: str
    due_at: Instant
    state: str
    payload: dict[str, Any]


class IncidentDetail(IncidentSummary):
    alerts: list[AlertOut]
    timeline: list[TimelineEntry]
    actions: list[ActionItemOut]
    messages: list[MessageOut]
    timers: list[TimerOut]
    explanation_id: int | None = Field(description="Cause analysis of the incident's lead anomaly, if any.")
    has_review: bool
    metrics: list[str] = Field(default_factory=list, description="Its metrics, the root first: anomalies of "
                               "related metrics (the metric tree) at the same time are one incident.")
    cause: dict[str, str] | None = Field(None, description="The full slice its explanation names as the first "
                                         "cause (e.g. city=南京&cuisine=川菜 under a city monitor).")
    routing: dict[str, Any] | None = Field(None, description="Why it has its owner: rule, basis (cause, leading, "
                                           "slice, catalog, person), the slice routed by, reason in en / zh-CN.")
    routing_reason: str | None = Field(None, description="The routing reason in the reader's language.")


class BoardColumn(BaseModel):
    status: str
    label: str
    count: int
    items: list[IncidentSummary]


class Board(BaseModel):
    """Open incidents in columns by state; the most recently finished ones in the last column."""

    columns: list[BoardColumn]
    owners: dict[str, str] = Field(description="Owners on the board: id → display name (for filters).")
    teams: dict[str, str] = Field(description="Teams on the board: id → display name (for filters).")


class Person(BaseModel):
    id: str
    name: str
    team: str | None
    team_name: str | None
    title: str | None


def summary(ml: MetricLoop, d: Mapping[str, Any], locale: str, now: dt.datetime) -> IncidentSummary:
    """An incident dict in the reader's language (status, owner and team names)."""
    fixed = {**d, "status_label": lifecycle.STATE_LABELS[d["status"]].render(locale),
             "owner_name": scope.person_name(ml, d.get("owner")) if d.get("owner") else None}
    return IncidentSummary.of(fixed, ml.project.tz, metric_label=scope.metric_label(ml, d["metric"], locale),
                              team_name=scope.team_name(ml, d.get("team"), locale), now=now)


def visible_incidents(ml: MetricLoop, principal: Principal, *, status: list[str] | None = None,
                      owner: str | None = None, team: str | None = None, severity: str | None = None,
                      metric: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    rows = ml.workflow.list_incidents(status=status, owner=owner, team=team, metric=metric, open_only=open_only,
                                      limit=SCAN)
    return [d for d in rows if scope.sees(ml, principal, d["metric"], d["slice"])
            and (severity is None or d["severity"] == severity)]


def build_board(ml: MetricLoop, principal: Principal, locale: str, *, owner: str | None = None,
                team: str | None = None, severity: str | None = None, done: int = 10) -> Board:
    """The board as the API returns it and the UI draws it."""
    now = dt.datetime.now(dt.UTC)
    rows = visible_incidents(ml, principal)
    owners = {d["owner"]: scope.person_name(ml, d["owner"]) for d in rows if d.get("owner")}
    teams = {d["team"]: scope.team_name(ml, d["team"], locale) or d["team"] for d in rows if d.get("team")}
    rows = [d for d in rows if (owner is None or d.get("owner") == owner) and (team is None or d.get("team") == team)
            and (severity is None or d["severity"] == severity)]
    done_label = {"zh-CN": "已结束", "en": "done"}["zh-CN" if locale == "zh-CN" else "en"]
    columns = []
    for status in BOARD_COLUMNS:
        if status == "done":
            finished = [d for d in rows if d["status"] in lifecycle.TERMINAL_STATES]
            finished.sort(key=lambda d: d.get("closed_at") or d["triggered_at"], reverse=True)
            items, label = finished[:done], done_label
        else:
            items = [d for d in rows if d["status"] == status]
            label = lifecycle.STATE_LABELS[status].render(locale)
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
        if status != "done":
            items.sort(key=lambda d: (rank.get(d["severity"], 5), -d["triggered_at"].timestamp()))
        columns.append(BoardColumn(status=status, label=label, count=len(items),
                                   items=[summary(ml, d, locale, now) for d in items]))
    return Board(columns=columns, owners=dict(sorted(owners.items())), teams=dict(sorted(teams.items())))


def detail(ml: MetricLoop, inc: Mapping[str, Any], locale: str) -> IncidentDetail:
    tz = ml.project.tz
    now = dt.datetime.now(dt.UTC)
    with ml.store.session() as s:
        fps = [a["fingerprint"] for a in inc["alerts"]]
        expl_id = s.scalar(sa.select(sa.func.max(Explanation.id)).where(Explanation.anomaly_fingerprint.in_(fps))) \
            if fps else None
        has_review = s.scalar(sa.select(Review.id).where(Review.incident_id == inc["number"])) is not None
    base = summary(ml, inc, locale, now)
    return IncidentDetail(
        **base.model_dump(),
        alerts=[AlertOut(**local_times(bounded(a, metric_bounds(ml, a["metric"])), tz, ("start", "end")))
                for a in inc["alerts"]],
        timeline=[TimelineEntry(**local_times(e, tz, ("at",)), actor_name=scope.person_name(ml, e["actor"]))
                  for e in inc["audit"]],
        actions=[ActionItemOut.of(a, tz, scope.person_name(ml, a["owner"]) if a["owner"] else None)
                 for a in inc["actions"]],
        messages=[MessageOut(**m) for m in inc["messages"]],
        timers=[TimerOut(**local_times(t, tz, ("due_at",))) for t in inc["timers"]],
        explanation_id=expl_id, has_review=has_review,
        metrics=list(inc.get("metrics") or []), cause=inc.get("cause"), routing=inc.get("routing"),
        routing_reason=_routing_reason(inc.get("routing"), locale),
    )


def _routing_reason(routing: Mapping[str, Any] | None, locale: str) -> str | None:
    reason = (routing or {}).get("reason")
    if not isinstance(reason, Mapping):
        return None
    return pick({str(k): str(v) for k, v in reason.items()}, locale, "") or None


def explanations(ml: MetricLoop, numbers: list[int]) -> dict[int, dict[str, Any]]:
    """The stored explanation payload of each incident (one query for the whole board)."""
    from metricloop.store.workflow_models import Incident

    if not numbers:
        return {}
    with ml.store.session() as s:
        rows = s.execute(sa.select(Incident.id, Incident.explanation).where(Incident.id.in_(numbers))).all()
    return {int(i): e for i, e in rows if e}


def action_incident(ml: MetricLoop, action_id: int) -> int | None:
    """The number of the incident an action item belongs to (None for no such item): who may
    change an item is decided by who may see its incident."""
    from metricloop.store.workflow_models import ActionItem

    with ml.store.session() as s:
        row = s.get(ActionItem, action_id)
        return row.incident_id if row is not None else None
