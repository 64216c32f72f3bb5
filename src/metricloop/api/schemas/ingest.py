"""Ingest: loads, rejected rows, table checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from metricloop.localtime import Instant


class LoadOut(BaseModel):
    id: int
    table: str
    source: str
    mode: str
    status: str = Field(description="running | ok | partial | failed")
    rows_loaded: int
    rows_rejected: int
    time_column: str | None
    max_event_time: Instant | None
    error: str | None
    started_at: Instant
    finished_at: Instant | None
    types: dict[str, str] | None = Field(default=None, description="Type each column was checked against.")
    types_from: str | None = Field(default=None, description="schema | table | inferred")
    notes: list[str] = Field(default_factory=list, description="Column policy decisions: extra, missing, added.")


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
    checked_at: Instant | None = None


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=2048,
                        description="A file inside the project folder (CSV/Parquet) or an http(s) URL returning JSON.")
    table: str = Field(min_length=1, max_length=127)
    mode: str = Field(default="append", pattern="^(append|replace)$")
    schema_: dict[str, str] | None = Field(default=None, alias="schema", max_length=1000,
                                           description="Declared column types, e.g. {\"amount\": \"DOUBLE\"}; "
                                           "parsed as DuckDB data types (BIGINT, DOUBLE, DECIMAL(p,s), VARCHAR, "
                                           "BOOLEAN, DATE, TIMESTAMP, ...), never run as SQL.")
    time_column: str | None = Field(default=None, max_length=128)
    records_path: str | None = Field(default=None, max_length=512,
                                     description="Path of the records list in a JSON payload.")
    add_columns: bool = Field(default=False, description="Add the file's extra columns to the table.")


class LoadResponse(BaseModel):
    table: str
    source: str
    status: str
    rows_loaded: int
    rows_rejected: int
    max_event_time: Instant | None
    types: dict[str, str] = Field(default_factory=dict, description="Type each column was checked against.")
    types_from: str = Field(default="schema", description="schema | table | inferred")
    notes: list[str] = Field(default_factory=list, description="Column policy decisions: extra, missing, added.")
    rejects: list[RejectOut]
    checks: list[CheckOut]
