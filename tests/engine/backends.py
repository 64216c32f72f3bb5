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


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return f"'{v.isoformat(sep=' ') if isinstance(v, dt.datetime) else v.isoformat()}'"
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ch_type(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "Nullable(Bool)"
    if pa.types.is_integer(t):
        return "Nullable(Int64)"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "Nullable(Float64)"
    if pa.types.is_timestamp(t):
        return "Nullable(DateTime64(6))"
    if pa.types.is_date(t):
        return "Nullable(Date32)"
    return "Nullable(String)"


def copy_to_clickhouse(duck: DuckDBWarehouse, wh: Any, tables: Sequence[str]) -> None:
    """Copy DuckDB tables into a ClickHouse warehouse (chdb), MergeTree so a chdb:///path keeps them."""
    for name in tables:
        data = duck.execute(f"select * from {name}")
        cols = ", ".join(f"`{f.name}` {_ch_type(f.type)}" for f in data.schema)
        wh.execute(f"DROP TABLE IF EXISTS {name}")
        wh.execute(f"CREATE TABLE {name} ({cols}) ENGINE = MergeTree ORDER BY tuple()")
        rows = data.to_pylist()
        if rows:
            values = ", ".join("(" + ", ".join(_literal(v) for v in r.values()) + ")" for r in rows)
            wh.execute(f"INSERT INTO {name} VALUES {values}")


def _spark_type(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    return "STRING"


def copy_to_spark(duck: DuckDBWarehouse, wh: Any, tables: Sequence[str], database: str) -> None:
    """Copy DuckDB tables into Spark tables ``database.<name>``."""
    wh.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    for name in tables:
        data = duck.execute(f"select * from {name}")
        wh.create_table(f"{database}.{name}", [(f.name, _spark_type(f.type)) for f in data.schema],
                        [list(r.values()) for r in data.to_pylist()])


def same_rows_on(catalog: Any, duck: DuckDBWarehouse, other: Any, queries: Sequence[dict[str, Any]]) -> None:
    """Every query gives the same rows on ``other`` (a ClickHouse or Spark warehouse) as on DuckDB."""
    for q in queries:
        want = norm(run(catalog, duck, **q))
        got = norm(run(catalog, other, other.dialect, **q))
        assert got == want, f"{other.dialect} differs from duckdb for {q}"
