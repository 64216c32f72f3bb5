"""Helpers to query the generated tables with a real DuckDB (imported by the demo tests)."""

from __future__ import annotations

from typing import Any

import duckdb

from metricloop.demo import DemoData


def connect(data: DemoData, *, counterfactual: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the demo tables registered under their names."""
    con = duckdb.connect()
    tables = data.counterfactual if counterfactual else data.tables()
    assert tables is not None
    for name, table in tables.items():
        con.register(name, table)
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """All result rows of one statement."""
    return con.execute(sql, params or []).fetchall()


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single result row of one statement."""
    result = rows(con, sql, params)
    assert len(result) == 1
    return result[0]
