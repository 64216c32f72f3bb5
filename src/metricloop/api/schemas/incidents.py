"""Incidents: the board, one incident's story (alerts, timeline, actions, messages), human actions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from metricloop.localtime import Instant, local_times
from metricloop.workflow.lifecycle import ACTIONS

IncidentAction = Literal[ACTIONS]  # type: ignore[valid-type]
ActionStatus = Literal["open", "in_progress", "done", "cancelled"]


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


class ActRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: IncidentAction = Field(description="ack, investigate, mitigate, resolve (needs a comment), close, "
                                               "reopen, retrigger, false_positive (needs a comment), duplicate.")
    comment: str | None = Field(default=None, max_length=4000)
    duplicate_of: str | None = Field(default=None, max_length=32, description="INC-n, for 'duplicate'.")


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner: str = Field(min_length=1, max_length=64, description="Person id from owners.yaml (GET /people).")
    comment: str | None = Field(default=None, max_length=4000)


class CommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class AddActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    owner: str | None = Field(default=None, max_length=64, description="Person id (default: the incident's owner).")
    due: Instant | None = Field(default=None, description="Due time (naive = the project's timezone).")
    expected_effect: str | None = Field(default=None, max_length=2000,
                                        description="What should happen to the metric, e.g. back to last week's level.")
    link: str | None = Field(default=None, max_length=2000, description="Ticket or merge request.")


class UpdateActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ActionStatus | None = None
    effective_at: Instant | None = Field(default=None, description="When the fix took effect (for verification).")


class Person(BaseModel):
    id: str
    name: str
    team: str | None
    team_name: str | None
    title: str | None
