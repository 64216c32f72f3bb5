"""Several groupings in one statement (engine.grouping): GROUPING SETS and the UNION ALL fallback
give the rows of one GROUP BY per set, on DuckDB, ClickHouse, Spark and MariaDB; explain's
drill-down is the same with and without GROUPING SETS."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from metricloop.engine import dialects
from metricloop.engine.compiler import Compiler
from metricloop.engine.grouping import compile_sets, run_sets
from metricloop.engine.query import MetricQuery
from metricloop.service import MetricLoop
from tests.engine.backends import _spark_type, copy_to_clickhouse, norm

SETS = [("region",), ("channel",), ()]
WINDOW = {"start": "2026-01-05", "end": "2026-01-20"}
METRICS = [["buyers"], ["refund_rate", "gmv"], ["app_gmv"], ["conversion_rate"]]


def _sorted(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(norm(rows), key=repr)


def _one_group_by_each(ml: MetricLoop, metrics: list[str]) -> list[list[tuple[Any, ...]]]:
    return [_sorted(ml.query(MetricQuery(metrics=metrics, group_by=list(s), **WINDOW)).rows()) for s in SETS]


@pytest.mark.parametrize("metrics", METRICS, ids="+".join)
def test_sets_are_one_group_by_each(tiny: MetricLoop, metrics: list[str]) -> None:
    compiler, wh = tiny.compiler("duckdb"), tiny.warehouse()
    query = MetricQuery(metrics=metrics, **WINDOW)
    want = _one_group_by_each(tiny, metrics)
    for native in (None, False):
        got = run_sets(compiler, wh.execute, query, SETS, native=native)
        assert [_sorted(t.to_pylist()) for t in got] == want
    stmt = compile_sets(compiler, query, SETS)
    # one aggregation over the facts is rewritten; the cross-model ratio (two branches) is a UNION ALL
    assert stmt.native is (metrics != ["conversion_rate"])
    assert ("GROUPING SETS" in stmt.sql) is stmt.native


def test_mariadb_dialect_falls_back_to_union_all(tiny: MetricLoop) -> None:
    stmt = compile_sets(Compiler(tiny.catalog, "mysql"), MetricQuery(metrics=["buyers"], **WINDOW), SETS)
    assert not stmt.native and "GROUPING" not in stmt.sql and "UNION ALL" in stmt.sql


def _same_on(tiny: MetricLoop, other: Any) -> None:
    compiler = Compiler(tiny.catalog, other.dialect)
    for metrics in (["buyers"], ["refund_rate", "gmv"]):
        query = MetricQuery(metrics=metrics, **WINDOW)
        assert compile_sets(compiler, query, SETS).native
        got = run_sets(compiler, other.execute, query, SETS)
        assert [_sorted(t.to_pylist()) for t in got] == _one_group_by_each(tiny, metrics), (other.dialect, metrics)


def test_clickhouse_grouping_sets(tiny: MetricLoop, chdb_warehouse: Any) -> None:
    copy_to_clickhouse(tiny.duckdb(), chdb_warehouse, ["orders"])
    _same_on(tiny, chdb_warehouse)


@pytest.mark.slow
def test_spark_grouping_sets(tiny: MetricLoop, spark_warehouse: Any) -> None:
    data = tiny.duckdb().execute("select * replace (cast(amount as double) as amount) from orders")
    spark_warehouse.create_table("default.orders", [(f.name, _spark_type(f.type)) for f in data.schema],
                                 [list(r.values()) for r in data.to_pylist()])
    _same_on(tiny, spark_warehouse)


def _same_through_sqlalchemy(tiny: MetricLoop, url: str, native: bool) -> None:
    import sqlalchemy as sa

    from metricloop.engine.warehouse import SQLAlchemyWarehouse

    rows = tiny.duckdb().execute("select * from orders").to_pylist()
    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.exec_driver_sql("create table orders (order_id bigint, buyer_id bigint, order_time timestamp null, "
                            "region varchar(8), channel varchar(8), amount double precision, is_refunded boolean)")
        con.execute(sa.text("insert into orders values (:order_id, :buyer_id, :order_time, :region, :channel, "
                            ":amount, :is_refunded)"), [{**r, "amount": float(r["amount"])} for r in rows])
    engine.dispose()
    wh = SQLAlchemyWarehouse(url)
    try:
        compiler = Compiler(tiny.catalog, wh.dialect)
        for metrics in (["buyers"], ["refund_rate", "gmv"]):
            query = MetricQuery(metrics=metrics, **WINDOW)
            assert compile_sets(compiler, query, SETS).native is native
            got = run_sets(compiler, wh.execute, query, SETS)
            assert [_sorted(t.to_pylist()) for t in got] == _one_group_by_each(tiny, metrics), (wh.dialect, metrics)
    finally:
        wh.close()


@pytest.mark.mariadb
def test_mariadb_union_all_gives_the_same_rows(tiny: MetricLoop, mariadb_db: str) -> None:
    _same_through_sqlalchemy(tiny, mariadb_db, native=False)


@pytest.mark.postgres
def test_postgres_grouping_sets(tiny: MetricLoop, fresh_postgres_url: str) -> None:
    _same_through_sqlalchemy(tiny, fresh_postgres_url, native=True)


def test_explain_is_the_same_without_grouping_sets(tiny: MetricLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill-down of a metric that does not add up (distinct buyers) reads one grouping-sets
    statement per period; with the capability switched off (as on MariaDB) it reads UNION ALL."""
    args: dict[str, Any] = {"metric": "buyers", "start": dt.datetime(2026, 1, 12), "end": dt.datetime(2026, 1, 19),
                            "vs": "previous_period", "by": ["region", "channel"], "store": False}
    native = tiny.explain.explain(**args).to_dict()
    monkeypatch.setitem(dialects.DIALECTS, "duckdb",
                        dataclasses.replace(dialects.DIALECTS["duckdb"], grouping_sets=False))
    fallback = tiny.explain.explain(**args).to_dict()
    assert native["drilldown"] == fallback["drilldown"]
    assert native["drilldown"]["kind"] == "non_additive"
    assert {d["dimension"] for d in native["drilldown"]["dimensions"]} == {"region", "channel"}
