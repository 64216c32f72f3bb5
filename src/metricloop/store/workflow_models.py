"""Tables of the action and review stages: incidents, their alerts, audit trail, timers, action
items, silences, the notification outbox and its attempts, spent action-link tokens, reviews and
effect verifications.

Times are UTC (:class:`~metricloop.store.models.UTCDateTime`). The outbox row's id IS the
idempotency id sent to the receiver, so a retry can never invent a new one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricloop.store.models import Base, utcnow


# ----------------------------------------------------------------------------- incidents
class Incident(Base):
    """The anomalies of one metric and time window, with an owner and a lifecycle state."""

    __tablename__ = "wf_incidents"
    __table_args__ = (Index("ix_wf_incidents_metric_status", "metric", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    metric: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    slice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # common slice of its alerts
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    team: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rule: Mapped[str | None] = mapped_column(String(256), nullable=True)  # which owners.yaml rule matched
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    window_start: Mapped[dt.datetime] = mapped_column()  # first anomalous point (MTTD starts here)
    window_end: Mapped[dt.datetime] = mapped_column()  # last anomalous point seen so far
    triggered_at: Mapped[dt.datetime] = mapped_column()  # when MetricLoop opened it
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    mitigated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    ack_due_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    resolve_due_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actual: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    impact: Mapped[float | None] = mapped_column(Float, nullable=True)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every change
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IncidentAlert(Base):
    """One anomaly event as received (dedup key: ``fingerprint`` within its incident)."""

    __tablename__ = "wf_alerts"
    __table_args__ = (Index("ix_wf_alerts_fp", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(256))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("wf_incidents.id", ondelete="CASCADE"), nullable=True, index=True
    )
    monitor: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(128))
    slice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    start: Mapped[dt.datetime] = mapped_column()
    end: Mapped[dt.datetime] = mapped_column()
    actual: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    impact: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {"en": ..., "zh-CN": ...}
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # active | inhibited (a parent slice alerts in the same incident) | silenced | maintenance
    state: Mapped[str] = mapped_column(String(16), default="active")
    suppressed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column()
    last_seen: Mapped[dt.datetime] = mapped_column()


class AuditEvent(Base):
    """Every change to an incident, its actions or its review: who, when, before, after, why."""

    __tablename__ = "wf_audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("wf_incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))  # opened, transition, assign, escalate, alert, action, ...
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class Timer(Base):
    """A stored deadline; ``tick(now)`` fires the due ones, so they survive restarts."""

    __tablename__ = "wf_timers"
    __table_args__ = (Index("ix_wf_timers_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("wf_incidents.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # ack_deadline | escalation | reminder | resolve_deadline | action_due | review_due
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[dt.datetime] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | fired | cancelled
    fired_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ActionItem(Base):
    """Something a person does about an incident, and what it should do to the metric."""

    __tablename__ = "wf_action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("wf_incidents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(512))
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in_progress | done | cancelled
    expected_effect: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. "gmv back to baseline"
    link: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    effective_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # when the fix took effect
    created_at: Mapped[dt.datetime] = mapped_column()
    done_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Silence(Base):
    """Mute matching alerts between two times (``kind``: silence or maintenance window)."""

    __tablename__ = "wf_silences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default="silence")
    metric: Mapped[str] = mapped_column(String(128), default="*")  # fnmatch pattern
    monitor: Mapped[str] = mapped_column(String(128), default="*")
    slice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # every key must match
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ------------------------------------------------------------------------------ delivery
class OutboxMessage(Base):
    """A notification to deliver; written in the same transaction as the change that caused it.

    ``status``: pending → delivered | covered (folded into the digest ``covered_by``, delivered
    when it is) | rerouted (its channel broke; ``covered_by`` is the fallback row) | dead.
    """

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # = idempotency id
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(128))  # the channel it was addressed to
    channel: Mapped[str] = mapped_column(String(128))  # where it goes now (after routing)
    notification: Mapped[dict[str, Any]] = mapped_column(JSON)
    covers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ids a digest/fallback delivers
    status: Mapped[str] = mapped_column(String(16), default="pending")
    covered_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttempt(Base):
    """One try of one outbox message (``outcome`` ``unknown`` = the process died mid-send)."""

    __tablename__ = "notify_attempts"
    __table_args__ = (Index("ix_notify_attempts_channel", "channel", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="unknown")  # sent | retryable | permanent | unknown
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted


class ChannelState(Base):
    """A channel marked broken after a permanent error (new work goes to its fallback)."""

    __tablename__ = "notify_channel_state"

    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    broken: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class UsedActionToken(Base):
    """Spent ids of single-use ack/resolve links; the primary key makes spending atomic."""

    __tablename__ = "notify_used_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -------------------------------------------------------------------------------- review
class Review(Base):
    """The review (复盘) of one incident: required sections, then completed into the case library."""

    __tablename__ = "rv_reviews"
    __table_args__ = (UniqueConstraint("incident_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("wf_incidents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | completed
    sections: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metric: Mapped[str] = mapped_column(String(128), index=True)
    slice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cause_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)  # e.g. ["region=华东", "channel=app"]
    terms: Mapped[str] = mapped_column(Text, default="")  # space-separated search tokens (zh + en)
    verdict: Mapped[str | None] = mapped_column(String(32), nullable=True)  # best verified effect
    author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class EffectCheck(Base):
    """One effect verification: the metric after an action vs its counterfactual expectation."""

    __tablename__ = "rv_effect_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("wf_incidents.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    checked_at: Mapped[dt.datetime] = mapped_column()
    effective_at: Mapped[dt.datetime] = mapped_column()
    verdict: Mapped[str] = mapped_column(String(32))
    recovery: Mapped[float | None] = mapped_column(Float, nullable=True)
    recovery_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    recovery_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    gap_after: Mapped[float | None] = mapped_column(Float, nullable=True)
    gap_after_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    gap_after_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
