"""Ingest: loads, rejected rows, table checks."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class LoadOut(BaseModel):
    id: int
    table: str
    source: str
    mode: str
    status: str = Field(description="running | ok | partial | failed")
    rows_loaded: int
    rows_rejected: int
    time_column: str | None
    max_event_time: dt.datetime | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


class RejectOut(BaseModel):
    file: str
    line: int | None
    column: str | None
    reason: str
    raw: str | None


class CheckOut(BaseModel):
    table: str
    check: str = Field(description="freshness | row_count_drop | null_rate | duplicate_keys")
    status: str = Field(description="pass | fail | error")
    observed: float | None
    threshold: str | None
    detail: str | None
    checked_at: dt.datetime | None = None


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=2048,
                        description="A file inside the project folder (CSV/Parquet) or an http(s) URL returning JSON.")
    table: str = Field(min_length=1, max_length=256)
    mode: str = Field(default="append", pattern="^(append|replace)$")
    schema_: dict[str, str] | None = Field(default=None, alias="schema",
                                           description="Declared column types, e.g. {\"amount\": \"DOUBLE\"}.")
    time_column: str | None = None
    records_path: str | None = Field(default=None, description="Path of the records list in a JSON payload.")


class LoadResponse(BaseModel):
    table: str
    source: str
    status: str
    rows_loaded: int
    rows_rejected: int
    max_event_time: dt.datetime | None
    rejects: list[RejectOut]
    checks: list[CheckOut]
