"""Period-over-period (``compare``) gives the rows of a hand-written full join of this period's and
the shifted period's aggregates, including the periods that have only one side, from one scan of
the facts; then the same rows on PostgreSQL, MariaDB, ClickHouse and Spark."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from metricloop.catalog.catalog import load_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse
from tests.engine.backends import copy_to_clickhouse, copy_to_spark, norm, run, same_rows_as_duckdb, same_rows_on

MODELS = """\
semantic_models:
  - name: pop_sales
    table: pop_sales
    defaults: {agg_time_dimension: sold_at}
    entities:
      - {name: sale, type: primary, expr: id}
    dimensions:
      - {name: sold_at, type: time, type_params: {time_granularity: day}}
      - {name: region, type: categorical}
    measures:
      - {name: revenue, agg: sum, expr: amount}
      - {name: sale_count, agg: count, expr: id}
  - name: pop_visits
    table: pop_visits
    defaults: {agg_time_dimension: ds}
    dimensions:
      - {name: ds, type: time, type_params: {time_granularity: day}}
      - {name: region, type: categorical}
    measures:
      - {name: visit_count, agg: sum, expr: visits}
metrics:
  - {name: revenue, measure: revenue}
  - {name: sales, measure: sale_count}
  - {name: visits, measure: visit_count}
  - {name: conversion, type: ratio, numerator: sales, denominator: visits}
  - {name: revenue_7d, type: cumulative, input_metric: revenue, window: 7 days}
"""

# March 2024, two regions; gaps: no sales on Mar 12 (so Mar 19 has no last-week value) nor Mar 20
# (a day in the range with only last week's value), the north sells only on even days
SALES = [
    (i, dt.datetime(2024, 3, day, 9 + i % 8), region, float(day * 10 + i % 7))
    for i, (day, region) in enumerate(
        (day, region)
        for day in range(1, 32)
        if day not in (12, 20)
        for region in ("east", "north")
        if region == "east" or day % 2 == 0
    )
]
VISITS = [(dt.datetime(2024, 3, day), region, 100 + day) for day in range(1, 32) for region in ("east", "north")]

# the hand-written reference: aggregate once, full join this period with the shifted one
HAND = """
with d as (select date_trunc('day', sold_at) as d, {keys} sum(amount) as v from pop_sales
           where {window} group by all),
c as (select * from d where {cur}),
p as (select d + interval 7 day as d, {keys} v from d where {prev})
select coalesce(c.d, p.d) as d, {out} c.v as revenue, p.v as prev, c.v - p.v as delta,
       (c.v - p.v) / abs(p.v) as pct
from c full join p on p.d = c.d {on}
order by 1 {order}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Compiler, DuckDBWarehouse, Any]:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pop.yaml").write_text(MODELS, encoding="utf-8")
    wh = DuckDBWarehouse(":memory:")
    wh.execute("create table pop_sales (id bigint, sold_at timestamp, region varchar, amount double)")
    wh.connection.executemany("insert into pop_sales values (?, ?, ?, ?)", SALES)
    wh.execute("create table pop_visits (ds timestamp, region varchar, visits bigint)")
    wh.connection.executemany("insert into pop_visits values (?, ?, ?)", VISITS)
    catalog = load_catalog(tmp_path)
    return Compiler(catalog, "duckdb"), wh, catalog


def _hand(wh: DuckDBWarehouse, start: str | None, end: str | None, by_region: bool) -> list[tuple[Any, ...]]:
    lo = dt.datetime.fromisoformat(start) if start else None
    hi = dt.datetime.fromisoformat(end) + dt.timedelta(days=1) if end else None
    window = " and ".join([*([f"sold_at >= timestamp '{lo - dt.timedelta(days=7)}'"] if lo else []),
                           *([f"sold_at < timestamp '{hi}'"] if hi else [])]) or "true"
    sql = HAND.format(
        keys="region," if by_region else "",
        window=window,
        cur=f"d >= timestamp '{lo}'" if lo else "true",
        prev=f"d < timestamp '{hi - dt.timedelta(days=7)}'" if hi else "true",
        out="coalesce(c.region, p.region) as region," if by_region else "",
        on="and p.region = c.region" if by_region else "",
        order=", 2" if by_region else "",
    )
    return norm(wh.execute(sql).to_pylist())


@pytest.mark.parametrize(("start", "end"), [("2024-03-15", "2024-03-25"), ("2024-03-15", None),
                                            (None, "2024-03-25")], ids=["range", "from", "until"])
@pytest.mark.parametrize("by_region", [False, True], ids=["total", "by-region"])
def test_last_week_is_the_full_join_of_both_periods(
    setup: tuple[Compiler, DuckDBWarehouse, Any], start: str | None, end: str | None, by_region: bool
) -> None:
    c, wh, _ = setup
    q = MetricQuery(metrics=["revenue"], grain="day", group_by=["region"] if by_region else [],
                    start=start, end=end, compare="last_week")
    compiled = c.compile(q)
    got = norm(wh.execute(compiled.sql).to_pylist())
    assert got == _hand(wh, start, end, by_region)
    assert compiled.sql.lower().count("from pop_sales") == 1  # one scan of the facts for both periods
    days = {r[0] for r in got}
    if start == "2024-03-15" and end:
        assert min(days) == dt.datetime(2024, 3, 15) and max(days) == dt.datetime(2024, 3, 25)
    if not by_region and start:
        rows = {r[0]: r for r in got}
        assert rows[dt.datetime(2024, 3, 19)][2] is None  # Mar 12 sold nothing
        assert rows[dt.datetime(2024, 3, 20)][1] is None and rows[dt.datetime(2024, 3, 20)][2] is not None


def test_compare_with_a_cumulative_metric_and_a_second_model(setup: tuple[Compiler, DuckDBWarehouse, Any]) -> None:
    """A shared scan (revenue) next to branches that read their own rows (a cumulative window,
    another model): each column is its own period's value, no period outside the range; last
    week's running total is the running total a week before (it was NULL: the cumulative periods
    were bounded by this week's range)."""
    c, wh, _ = setup
    span = {"grain": "day", "start": "2024-03-15", "end": "2024-03-25"}
    got = wh.execute(c.compile(MetricQuery(metrics=["revenue", "revenue_7d", "conversion"], compare="last_week",
                                           **span)).sql).to_pylist()
    alone = {r["metric_time__day"]: r for r in wh.execute(c.compile(MetricQuery(
        metrics=["revenue", "revenue_7d", "conversion"], grain="day", start="2024-03-08", end="2024-03-25")).sql
    ).to_pylist()}
    assert [r["metric_time__day"] for r in got] == [dt.datetime(2024, 3, d) for d in range(15, 26)]
    for r in got:
        day, week_ago = r["metric_time__day"], r["metric_time__day"] - dt.timedelta(days=7)
        for m in ("revenue", "revenue_7d", "conversion"):
            assert r[m] == (alone[day][m] if day in alone else None)
            want = alone[week_ago][m] if week_ago in alone else None
            assert r[f"{m}__prev"] == (pytest.approx(want) if want is not None else None), (day, m)


QUERIES: list[dict[str, Any]] = [
    {"metrics": ["revenue"], "grain": "day", "start": "2024-03-15", "end": "2024-03-25", "compare": "last_week"},
    {"metrics": ["revenue", "conversion"], "grain": "day", "group_by": ["region"], "start": "2024-03-15",
     "compare": "last_week"},
    {"metrics": ["revenue", "revenue_7d"], "grain": "day", "end": "2024-03-25", "compare": "last_week"},  # +cumulative
    {"metrics": ["sales"], "grain": "week", "start": "2024-03-11", "end": "2024-03-31", "compare": "previous_period"},
]


def _copy(wh: DuckDBWarehouse, url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as con:
        for table in ("pop_sales", "pop_visits"):
            wh.execute(f"select * from {table}").to_pandas().to_sql(table, con, index=False, if_exists="replace")
    engine.dispose()


def test_duckdb_rows(setup: tuple[Compiler, DuckDBWarehouse, Any]) -> None:
    _, wh, catalog = setup
    for q in QUERIES:
        assert run(catalog, wh, **q), q  # every query has rows (the comparisons below are not vacuous)


@pytest.mark.postgres
def test_postgres_gives_the_same_rows(setup: tuple[Compiler, DuckDBWarehouse, Any], fresh_postgres_url: str) -> None:
    _, wh, catalog = setup
    _copy(wh, fresh_postgres_url)
    same_rows_as_duckdb(catalog, wh, fresh_postgres_url, QUERIES)


@pytest.mark.mariadb
def test_mariadb_gives_the_same_rows(setup: tuple[Compiler, DuckDBWarehouse, Any], mariadb_db: str) -> None:
    _, wh, catalog = setup
    _copy(wh, mariadb_db)
    same_rows_as_duckdb(catalog, wh, mariadb_db, QUERIES)


def test_clickhouse_gives_the_same_rows(setup: tuple[Compiler, DuckDBWarehouse, Any], chdb_warehouse: Any) -> None:
    _, wh, catalog = setup
    copy_to_clickhouse(wh, chdb_warehouse, ["pop_sales", "pop_visits"])
    same_rows_on(catalog, wh, chdb_warehouse, QUERIES)


@pytest.mark.slow
def test_spark_gives_the_same_rows(setup: tuple[Compiler, DuckDBWarehouse, Any], spark_warehouse: Any) -> None:
    _, wh, catalog = setup
    copy_to_spark(wh, spark_warehouse, ["pop_sales", "pop_visits"], "default")
    same_rows_on(catalog, wh, spark_warehouse, QUERIES[:2])
