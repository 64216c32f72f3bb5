"""Access-control and service tables: users, teams, sessions, API tokens, permissions,
row policies, the audit log, and the scheduler's job claims.

Secrets never sit here in the clear: passwords are argon2 hashes, API tokens and session ids
are SHA-256 digests of high-entropy random values (a digest suffices for those; argon2's
slowness only matters for guessable secrets such as passwords).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metricloop.store.models import Base, utcnow


class Team(Base):
    """A group of users; its ``attributes`` (e.g. ``{"region": ["华东"]}``) apply to every member."""

    __tablename__ = "access_teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"zh-CN": ..., "en": ...}
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person (or a service account) who signs in to the UI or calls the API."""

    __tablename__ = "access_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)  # None: token-only account
    role: Mapped[str] = mapped_column(String(16))  # admin | editor | owner | analyst | viewer
    team: Mapped[str | None] = mapped_column(ForeignKey("access_teams.name", ondelete="SET NULL"), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ApiToken(Base):
    """A bearer token for scripts; only its digest is stored, the value is shown once."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("access_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a token in listings
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class UiSession(Base):
    """A signed-in browser. The cookie carries a signed reference to this row, so logout works."""

    __tablename__ = "access_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # digest of the random session id
    user_id: Mapped[int] = mapped_column(ForeignKey("access_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class MetricPermission(Base):
    """Who may (or may not) read a metric. ``metric`` may be a glob such as ``payment_*``."""

    __tablename__ = "access_metric_permissions"
    __table_args__ = (UniqueConstraint("metric", "principal_type", "principal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    metric: Mapped[str] = mapped_column(String(128))
    principal_type: Mapped[str] = mapped_column(String(8))  # user | team | role
    principal: Mapped[str] = mapped_column(String(64))
    access: Mapped[str] = mapped_column(String(8))  # read | deny
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RowPolicy(Base):
    """Row-level security: rows whose ``dimension`` is not among the user's ``attribute`` values
    are filtered out of every query, inside the compiler."""

    __tablename__ = "access_row_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    dimension: Mapped[str] = mapped_column(String(128))
    attribute: Mapped[str] = mapped_column(String(64))
    applies_to_type: Mapped[str] = mapped_column(String(8), default="all")  # all | role | team | user
    applies_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One query or change, who did it and whether it was allowed."""

    __tablename__ = "access_audit"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), index=True)  # username | system | anonymous
    action: Mapped[str] = mapped_column(String(64), index=True)  # query | login | user.create | metric.update ...
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | denied | error
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Setting(Base):
    """Small service-wide values shared by every process (e.g. the session signing key)."""

    __tablename__ = "service_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ScheduledJob(Base):
    """A registered job and its next due time; a worker claims it by advancing ``next_run_at``
    inside a ``SELECT ... FOR UPDATE SKIP LOCKED`` transaction, so each due run happens once."""

    __tablename__ = "scheduler_jobs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(64))
    next_run_at: Mapped[dt.datetime] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # set while a worker runs it
    last_started_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # ok | error
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_worker: Mapped[str | None] = mapped_column(String(128), nullable=True)


class JobRun(Base):
    """One run of a job for one due time; the unique key makes a double run impossible."""

    __tablename__ = "scheduler_runs"
    __table_args__ = (UniqueConstraint("job", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(128), index=True)
    due_at: Mapped[dt.datetime] = mapped_column()
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | error
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
