"""Pushdown: what leaves the warehouse is aggregates, sized by slices x periods, never by facts.

For each engine (DuckDB, ClickHouse through chdb, Spark in local mode) the benchmark generates
fact tables of growing size *inside* the warehouse (``range`` / ``numbers``: nothing is
uploaded), then runs the compiled queries MetricLoop's loops send:

- ``detect``: a monitor's series, one metric per slice per day over the window (what
  ``DetectService.load_series`` asks);
- ``backfill``: the same series by hour over a week (a backfill's batch);
- ``explain``: the window's totals per slice (what explain compares with the baseline);
- ``explain_leaves``: the window per region x channel (the leaves an additive metric's
  localization reads);
- ``explain_sets``: distinct buyers per region, per channel and in total in one statement
  (the drill-down of a metric that does not add up: GROUPING SETS on DuckDB, ClickHouse and
  Spark, UNION ALL where a dialect has none) — the values of the dimensions, not their product.

Each row reports the facts scanned, the rows that came back, slices x periods (their bound:
fewer when some slice has no fact in a period), and the time. The rows that come back stay at
that bound whatever the fact count: the grouping runs in the warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from metricloop.catalog.catalog import Catalog, build_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.grouping import compile_sets
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import open_warehouse
from metricloop.yamlio import Document

EPOCH_2026 = 1767225600  # 2026-01-01 00:00:00 UTC
ENGINES = ("duckdb", "clickhouse", "spark")
CHANNELS = 4  # values of the second dimension
BUYERS = 1000  # distinct buyers (a metric that does not add up over slices)
EXPLAIN_SETS = [("region",), ("channel",), ()]


@dataclass
class Row:
    engine: str
    facts: int
    query: str
    rows_out: int
    slices_x_periods: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "facts": self.facts,
            "query": self.query,
            "rows_out": self.rows_out,
            "slices_x_periods": self.slices_x_periods,
            "seconds": round(self.seconds, 3),
        }


def _generate(engine: str, table: str, n: int, slices: int, days: int) -> str:
    """SQL that creates ``table`` with ``n`` facts spread over ``days`` days and ``slices`` regions."""
    if engine == "duckdb":
        return (
            f"CREATE OR REPLACE TABLE {table} AS SELECT i AS id, "
            f"TIMESTAMP '2026-01-01' + INTERVAL 1 DAY * (i % {days}) + INTERVAL 1 SECOND * ((i * 7919) % 86400) AS ts, "
            f"'r' || CAST((i // {days}) % {slices} AS VARCHAR) AS region, CAST(i % 97 AS DOUBLE) AS amount, "
            f"'c' || CAST(i % {CHANNELS} AS VARCHAR) AS channel, i % {BUYERS} AS buyer "
            f"FROM (SELECT range AS i FROM range({n}))"
        )
    if engine == "clickhouse":
        return (
            f"CREATE TABLE {table} ENGINE = MergeTree ORDER BY tuple() AS SELECT number AS id, "
            f"toDateTime64({EPOCH_2026} + (number % {days}) * 86400 + (number * 7919) % 86400, 6, 'UTC') AS ts, "
            f"concat('r', toString(intDiv(number, {days}) % {slices})) AS region, toFloat64(number % 97) AS amount, "
            f"concat('c', toString(number % {CHANNELS})) AS channel, number % {BUYERS} AS buyer "
            f"FROM numbers({n})"
        )
    return (
        f"CREATE TABLE {table} USING parquet AS SELECT id, "
        f"timestamp_seconds({EPOCH_2026} + (id % {days}) * 86400 + (id * 7919) % 86400) AS ts, "
        f"concat('r', CAST((id DIV {days}) % {slices} AS STRING)) AS region, CAST(id % 97 AS DOUBLE) AS amount, "
        f"concat('c', CAST(id % {CHANNELS} AS STRING)) AS channel, id % {BUYERS} AS buyer "
        f"FROM range({n})"
    )


def _catalog(table: str) -> Catalog:
    doc = {
        "semantic_models": [
            {
                "name": "facts",
                "table": table,
                "defaults": {"agg_time_dimension": "ts"},
                "entities": [{"name": "fact", "type": "primary", "expr": "id"}],
                "dimensions": [
                    {"name": "ts", "type": "time", "type_params": {"time_granularity": "second"}},
                    {"name": "region", "type": "categorical"},
                    {"name": "channel", "type": "categorical"},
                ],
                "measures": [{"name": "gmv", "agg": "sum", "expr": "amount"},
                             {"name": "orders", "agg": "count", "expr": "id"},
                             {"name": "buyers", "agg": "count_distinct", "expr": "buyer"}],
            }
        ],
        "metrics": [
            {"name": "gmv", "type": "simple", "measure": "gmv"},
            {"name": "orders", "type": "simple", "measure": "orders"},
            {"name": "buyers", "type": "simple", "measure": "buyers"},
        ],
    }
    return build_catalog([Document("pushdown.yaml", doc)])


def queries(slices: int, days: int) -> list[tuple[str, MetricQuery, int]]:
    """(name, query, slices x periods it should return)."""
    week = min(days, 7)
    return [
        ("detect", MetricQuery(metrics=["gmv", "orders"], group_by=["region", "metric_time__day"],
                               start="2026-01-01", end=f"2026-01-{days:02d}"), slices * days),
        ("backfill", MetricQuery(metrics=["gmv"], group_by=["region", "metric_time__hour"],
                                 start="2026-01-01", end=f"2026-01-{week:02d} 23:00:00"), slices * week * 24),
        ("explain", MetricQuery(metrics=["gmv", "orders"], group_by=["region"], start=f"2026-01-{days - week + 1:02d}",
                                end=f"2026-01-{days:02d}"), slices),
        ("explain_leaves", MetricQuery(metrics=["gmv", "orders"], group_by=["region", "channel"],
                                       start=f"2026-01-{days - week + 1:02d}", end=f"2026-01-{days:02d}"),
         slices * CHANNELS),
    ]


def sets_query(days: int) -> MetricQuery:
    """Explain's drill-down of distinct buyers over the last week (grouped by ``EXPLAIN_SETS``)."""
    week = min(days, 7)
    return MetricQuery(metrics=["buyers"], start=f"2026-01-{days - week + 1:02d}", end=f"2026-01-{days:02d}")


def run(
    engines: Iterable[str] = ENGINES,
    facts: Iterable[int] = (10_000, 100_000, 1_000_000),
    slices: int = 8,
    days: int = 28,
    urls: dict[str, str] | None = None,
) -> list[Row]:
    """Generate the facts in each engine and time the loops' queries; rows out never grow with facts."""
    out: list[Row] = []
    for engine in engines:
        url = (urls or {}).get(engine) or {"clickhouse": "chdb://", "spark": "spark://local[2]"}.get(engine)
        wh: Any = open_warehouse(engine, url)
        table = "default.pushdown_facts" if engine == "spark" else "pushdown_facts"
        try:
            compiler = Compiler(_catalog(table), wh.dialect)
            for n in facts:
                wh.execute(f"DROP TABLE IF EXISTS {table}")
                wh.execute(_generate(engine, table, n, slices, days))
                for name, q, expected in queries(slices, days):
                    sql = compiler.compile(q).sql
                    wh.execute(sql)  # warm: plan caches, JIT
                    t0 = time.perf_counter()
                    result = wh.execute(sql)
                    out.append(Row(engine, n, name, result.num_rows, expected, time.perf_counter() - t0))
                stmt = compile_sets(compiler, sets_query(days), EXPLAIN_SETS)
                wh.execute(stmt.sql)
                t0 = time.perf_counter()
                result = wh.execute(stmt.sql)
                how = "GROUPING SETS" if stmt.native else "UNION ALL"
                out.append(Row(engine, n, f"explain_sets ({how})", result.num_rows, slices + CHANNELS + 1,
                               time.perf_counter() - t0))
                # before: one statement (one scan) per dimension and one for the total
                each = [compiler.compile(sets_query(days).model_copy(update={"group_by": list(s)})).sql
                        for s in EXPLAIN_SETS]
                for sql in each:
                    wh.execute(sql)
                t0 = time.perf_counter()
                got = sum(wh.execute(sql).num_rows for sql in each)
                out.append(Row(engine, n, f"explain_sets (one GROUP BY each, {len(each)} statements)", got,
                               slices + CHANNELS + 1, time.perf_counter() - t0))
            wh.execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            wh.close()
    return out
