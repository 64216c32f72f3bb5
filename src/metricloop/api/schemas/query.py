"""Query: a MetricQuery in, rows and the SQL that produced them out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class QueryColumn(BaseModel):
    name: str
    kind: str = Field(description="dimension | metric | compare")
    metric: str | None = None
    is_time: bool = False


class QueryResponse(BaseModel):
    columns: list[QueryColumn]
    rows: list[dict[str, Any]] = Field(description="One object per row, keyed by column name; times in ISO 8601.")
    row_count: int
    sql: str = Field(description="The SQL run in the warehouse (row policies included).")


class CompileResponse(BaseModel):
    columns: list[QueryColumn]
    sql: str
    dialect: str
