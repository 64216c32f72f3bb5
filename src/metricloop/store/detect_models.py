"""Tables of the detection stage: monitor revisions, detection runs, anomaly events, feedback.

An anomaly's ``fingerprint`` (monitor + slice + first abnormal period) is unique: re-running
detection updates the row instead of adding one, which is what makes runs idempotent. Period
times (``start``, ``end``, ``peak``) are stored as UTC like every other time; the service turns
them back into the project's wall clock. ``handled_at``/``decision`` make the loop exactly-once:
an active event without ``handled_at`` is pending until the workflow's transaction records what
it did with it (see :mod:`metricloop.loop`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricloop.store.models import Base, utcnow


class MonitorRevision(Base):
    """An immutable revision of a monitor definition (from a file or written through the API)."""

    __tablename__ = "det_monitor_revisions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16))  # file | api
    change: Mapped[str] = mapped_column(String(16))  # created | changed | removed | restored
    spec_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(512), nullable=True)
    author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DetectionRun(Base):
    """One evaluation of one monitor: what it looked at and what it found."""

    __tablename__ = "det_runs"
    __table_args__ = (Index("ix_det_runs_monitor", "monitor", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    monitor: Mapped[str] = mapped_column(String(128))
    spec_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # ok | failed | skipped
    at: Mapped[dt.datetime] = mapped_column()  # the evaluation time (now or --at)
    data_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # ingest freshness used
    window_start: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # first period (re)evaluated
    window_end: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # last complete period
    series: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    events_new: Mapped[int] = mapped_column(Integer, default=0)
    events_updated: Mapped[int] = mapped_column(Integer, default=0)
    events_retracted: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # error or why skipped
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Anomaly(Base):
    """One anomaly event, upserted by fingerprint."""

    __tablename__ = "det_anomalies"
    __table_args__ = (
        Index("ix_det_anomalies_monitor_end", "monitor", "end"),
        Index("ix_det_anomalies_metric_start", "metric", "start"),
        Index("ix_det_anomalies_pending", "state", "handled_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    monitor: Mapped[str] = mapped_column(String(128))
    spec_hash: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(128))
    grain: Mapped[str] = mapped_column(String(16))
    slice: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    slice_key: Mapped[str] = mapped_column(String(512))  # canonical "dim=value,..." for filtering
    state: Mapped[str] = mapped_column(String(16), index=True)  # active | suppressed | retracted | stale
    suppressed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    start: Mapped[dt.datetime] = mapped_column()
    end: Mapped[dt.datetime] = mapped_column()
    peak: Mapped[dt.datetime] = mapped_column()
    severity: Mapped[str] = mapped_column(String(16))  # warning | critical
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    impact: Mapped[float | None] = mapped_column(Float, nullable=True)
    points: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # {"en": ..., "zh-CN": ...}
    detectors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)  # latest feedback label
    first_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # when the workflow took its decision on the current version of the event (the loop's clock),
    # written in the transaction that opens or joins its incident; NULL while active = pending
    handled_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    decision: Mapped[str | None] = mapped_column(String(64), nullable=True)  # INC-12 | silenced | ...


class AnomalyLabel(Base):
    """Feedback on an anomaly (append-only; the latest per fingerprint counts)."""

    __tablename__ = "det_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    monitor: Mapped[str] = mapped_column(String(128), index=True)
    label: Mapped[str] = mapped_column(String(16))  # confirmed | expected | false_alarm | new_normal
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
