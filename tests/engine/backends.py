"""Running compiled queries straight on a warehouse, and comparing backends with DuckDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse, SQLAlchemyWarehouse


def run(catalog: Any, wh: Any, dialect: str = "duckdb", **kw: Any) -> list[dict[str, Any]]:
    return wh.execute(Compiler(catalog, dialect).compile(MetricQuery(**kw)).sql).to_pylist()


def norm(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as tuples with floats rounded (drivers differ in the last digits) and dates as datetimes."""

    def v(x: Any) -> Any:
        if isinstance(x, float):
            return round(x, 6)
        if isinstance(x, dt.date) and not isinstance(x, dt.datetime):
            return dt.datetime(x.year, x.month, x.day)
        return x

    return [tuple(v(x) for x in r.values()) for r in rows]


def same_rows_as_duckdb(catalog: Any, duck: DuckDBWarehouse, url: str, queries: Sequence[dict[str, Any]]) -> None:
    other = SQLAlchemyWarehouse(url)
    try:
        for q in queries:
            want = norm(run(catalog, duck, **q))
            got = norm(run(catalog, other, other.dialect, **q))
            assert got == want, f"{other.dialect} differs from duckdb for {q}"
    finally:
        other.close()
