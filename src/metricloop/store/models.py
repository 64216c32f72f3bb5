"""State-store tables (SQLAlchemy 2 declarative). Schema changes go through Alembic migrations
in ``store/migrations``; the contract tests run every repository on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as naive UTC, returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None else None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# ---------------------------------------------------------------------------------- catalog
class DefinitionRevision(Base):
    """An immutable revision of a metric or semantic model definition."""

    __tablename__ = "definition_revisions"
    __table_args__ = (UniqueConstraint("kind", "name", "version"), Index("ix_defrev_name", "kind", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # metric | semantic_model
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(32))  # created | calculation | metadata | removed | restored
    calc_hash: Mapped[str] = mapped_column(String(64))
    meta_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(512), nullable=True)
    author: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------------- ingest
class IngestLoad(Base):
    """One load of a file or payload into a warehouse table."""

    __tablename__ = "ingest_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    source: Mapped[str] = mapped_column(String(1024))
    mode: Mapped[str] = mapped_column(String(16))  # append | replace
    status: Mapped[str] = mapped_column(String(16))  # running | ok | partial | failed
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    time_column: Mapped[str | None] = mapped_column(String(256), nullable=True)
    max_event_time: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    types: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {column: type checked against}
    types_from: Mapped[str | None] = mapped_column(String(16), nullable=True)  # schema | table | inferred
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)  # column policy decisions, one per line


class IngestReject(Base):
    """A row that could not be loaded, with where it was and why."""

    __tablename__ = "ingest_rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    load_id: Mapped[int] = mapped_column(ForeignKey("ingest_loads.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(String(1024))
    line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    column: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)


class TableCheck(Base):
    """The result of one data-quality check on one table at one time."""

    __tablename__ = "table_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(256), index=True)
    check: Mapped[str] = mapped_column(String(64))  # freshness | row_count_drop | null_rate | duplicate_keys
    status: Mapped[str] = mapped_column(String(16))  # pass | fail | error
    observed: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    checked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
