"""Reviews (复盘), effect verification, the case library and loop health."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from metricloop.localtime import Instant

SectionKey = Literal["summary", "impact", "timeline", "root_cause", "actions", "lessons"]


class SectionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str
    required: bool
    text: str | None = None
    data: dict[str, Any] | None = None
    edited: bool = Field(default=False, description="Written by a person (later drafts keep it).")


class ReviewOut(BaseModel):
    incident: str
    title: str
    status: str = Field(description="draft | completed")
    verdict: str | None = Field(description="Worst verified effect: recovered | partially_recovered | "
                                            "not_recovered | insufficient_data.")
    missing: list[str] = Field(description="Required sections still empty (completing is refused until none).")
    sections: dict[str, SectionOut]
    markdown: str
    created_at: Instant
    completed_at: Instant | None
    author: str | None


class EditSectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=20000)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_at: Instant | None = Field(default=None, description="When the fix took effect (default: the "
                                             "latest done action's effective time, else the resolution).")
    action_id: int | None = Field(default=None, ge=1, description="The action item being verified.")
    close: bool = Field(default=True, description="Close a 'verifying' incident that recovered; reopen one that "
                                                  "did not.")


class EffectSeries(BaseModel):
    """Hourly actual vs the same hour a week earlier around the fix (chart-ready, project-local times)."""

    metric: str
    effective_at: str
    timestamps: list[str]
    actual: list[float]
    expected: list[float]


class EffectCheckOut(BaseModel):
    id: int
    action_id: int | None
    checked_at: Instant
    effective_at: Instant
    verdict: str
    recovery: float | None
    recovery_ci: list[float | None]
    gap_after: float | None
    summary: str | None


class VerifyOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    incident: str
    verdict: str = Field(description="recovered | partially_recovered | not_recovered | insufficient_data")
    summary: str
    recovery: float | None
    incident_status: str | None = Field(default=None, description="closed or investigating when the check "
                                                                  "closed or reopened the incident.")
    series: EffectSeries


class EffectOut(BaseModel):
    series: EffectSeries
    checks: list[EffectCheckOut]


class CaseActionOut(BaseModel):
    title: str
    verdict: str | None


class CaseOut(BaseModel):
    """A completed review in the case library."""

    incident: str
    title: str
    metric: str
    slice: dict[str, Any]
    verdict: str | None
    completed_at: Instant | None
    root_cause: str | None
    summary: str | None
    actions: list[CaseActionOut]
    score: float = Field(description="Relevance (BM25 for search; weighted similarity for similar cases).")
    why: dict[str, float] | None = Field(default=None, description="Similarity parts: metric, slice, cause, text.")


class HealthFigures(BaseModel):
    """Loop health of a group of incidents; times in minutes, shares 0..1, null when there is no data."""

    incidents: int
    open: int
    false_positives: int
    mttd_min: float | None = Field(description="Mean time to detect.")
    mtta_min: float | None = Field(description="Mean time to acknowledge.")
    mttr_min: float | None = Field(description="Mean time to resolve (real incidents).")
    ack_within_sla: float | None
    actions: int
    actions_on_time: float | None
    closure_rate: float | None
    overdue: int
    overdue_incidents: int
    overdue_actions: int
    repeats: int


class LoopHealth(BaseModel):
    overall: HealthFigures
    by_owner: dict[str, HealthFigures]
    by_team: dict[str, HealthFigures]
    by_metric: dict[str, HealthFigures]
    repeats_by_metric: dict[str, int]
    window: dict[str, Instant | None]


class PassOut(BaseModel):
    """What one loop pass did."""

    at: Instant
    monitors: int
    failed_monitors: list[str]
    anomalies: int
    resumed: int = Field(default=0, description="Pending anomalies an earlier, interrupted pass had stored "
                                                "but not handled (picked up by this one).")
    explained: int
    incidents_opened: int
    alerts_grouped: int
    messages_sent: int
    messages_failed: int
    timers_fired: int
    seconds: float
    delivery_problem: str | None = Field(default=None, description="Why queued messages could not be sent "
                                                                   "(e.g. a channel's environment variable is unset).")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monitor: str | None = Field(default=None, max_length=128, description="Only this monitor.")
    notify: bool = Field(default=True, description="Deliver the queued messages now.")
