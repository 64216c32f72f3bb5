"""Conversion metrics: each conversion event is credited to the latest base event of the same
entity before it (within the window, on the same constant properties). Checked against a Python
computation from the same rows, then on PostgreSQL and MariaDB (equal rows required)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from metricloop.catalog.catalog import build_catalog
from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import DefinitionError
from metricloop.yamlio import Document
from tests.engine.backends import copy_to_clickhouse, copy_to_spark, run, same_rows_as_duckdb, same_rows_on

MODELS = """
semantic_models:
  - name: visits
    table: visits
    defaults: {agg_time_dimension: ds}
    entities:
      - {name: user, type: foreign, expr: user_id}
      - {name: session, type: foreign, expr: session_id}
    dimensions:
      - {name: ds, type: time, expr: ts}
      - {name: referrer, type: categorical}
    measures:
      - {name: visit_count, agg: count, expr: "1"}
  - name: buys
    table: buys
    defaults: {agg_time_dimension: ds}
    entities:
      - {name: user, type: foreign, expr: user_id}
    dimensions:
      - {name: ds, type: time, expr: ts}
      - {name: session_id, type: categorical}
    measures:
      - {name: buy_count, agg: count, expr: "1"}
      - {name: buy_amount, agg: sum, expr: amount}
metrics:
  - name: conversion_7d
    type: conversion
    base_measure: visit_count
    conversion_measure: buy_count
    entity: user
    window: 7 days
  - {name: conversion_ever, type: conversion, base_measure: visit_count, conversion_measure: buy_count, entity: user}
  - name: converted_amount_same_session
    type: conversion
    base_measure: visit_count
    conversion_measure: buy_amount
    entity: user
    calculation: conversions
    constant_properties: [{base_property: session, conversion_property: session_id}]
"""


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(5)
    start = dt.datetime(2024, 3, 1)
    # a user's visits have distinct times: which visit a buy is credited to is never a tie
    visits = [(u, start + dt.timedelta(hours=h), rnd.choice(["ad", "search", "mail"]), rnd.randrange(3))
              for u in range(20) for h in rnd.sample(range(24 * 40), rnd.randrange(1, 10))]
    buys = [(u, start + dt.timedelta(hours=rnd.randrange(24 * 45)), rnd.randrange(3), round(rnd.uniform(5, 80), 2))
            for u in range(22) for _ in range(rnd.randrange(0, 6))]  # users 20, 21 never visit
    return {"visits": visits, "buys": buys}


@pytest.fixture(scope="module")
def catalog() -> Any:
    return build_catalog([Document("m.yaml", yaml.safe_load(MODELS))])


@pytest.fixture(scope="module")
def duck(rows: dict[str, list[Any]]) -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(":memory:")
    wh.connection.execute("create table visits (user_id int, ts timestamp, referrer varchar, session_id int)")
    wh.connection.executemany("insert into visits values (?, ?, ?, ?)", rows["visits"])
    wh.connection.execute("create table buys (user_id int, ts timestamp, session_id int, amount double)")
    wh.connection.executemany("insert into buys values (?, ?, ?, ?)", rows["buys"])
    yield wh
    wh.close()



def credited(rows: dict[str, list[Any]], days: int | None, same_session: bool = False) -> list[tuple[Any, Any]]:
    """(the visit credited, the buy) for every buy that has a visit to be credited to."""
    out = []
    for buy in rows["buys"]:
        before = [v for v in rows["visits"] if v[0] == buy[0] and v[1] <= buy[1]
                  and (days is None or v[1] > buy[1] - dt.timedelta(days=days))
                  and (not same_session or v[3] == buy[2])]
        if before:
            out.append((max(before, key=lambda v: v[1]), buy))
    return out


def test_conversion_rate_by_day_and_by_referrer(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    visits_by_day = Counter(v[1].replace(hour=0) for v in rows["visits"])
    for metric, days in (("conversion_7d", 7), ("conversion_ever", None)):
        buys_by_day = Counter(v[1].replace(hour=0) for v, _ in credited(rows, days))
        got = {r["metric_time__day"]: r[metric] for r in run(catalog, duck, metrics=[metric],
                                                              group_by=["metric_time__day"])}
        assert got.keys() == visits_by_day.keys()  # conversions are credited to days with visits
        for day, n in visits_by_day.items():  # a day without credited buys has no conversions (NULL)
            assert got[day] == (pytest.approx(buys_by_day[day] / n) if day in buys_by_day else None)
        by_ref = run(catalog, duck, metrics=[metric], group_by=["referrer"])
        conv = Counter(v[2] for v, _ in credited(rows, days))
        total = Counter(v[2] for v in rows["visits"])
        assert {r["referrer"]: r[metric] for r in by_ref} == pytest.approx({k: conv[k] / n for k, n in total.items()})
    assert len(credited(rows, 7)) < len(credited(rows, None)) < len(rows["buys"])


def test_conversions_on_a_constant_property(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    got = run(catalog, duck, metrics=["converted_amount_same_session"])
    pairs = credited(rows, None, same_session=True)
    assert got[0]["converted_amount_same_session"] == pytest.approx(sum(b[3] for _, b in pairs))
    assert len(pairs) < len(credited(rows, None))


def test_a_conversion_metric_needs_both_measures_on_the_entity() -> None:
    bad = yaml.safe_load(MODELS)
    bad["metrics"].append({"name": "odd", "type": "conversion", "base_measure": "visit_count",
                           "conversion_measure": "buy_count", "entity": "session"})
    with pytest.raises(DefinitionError, match="has no entity 'session'"):
        build_catalog([Document("m.yaml", bad)])


QUERIES: list[dict[str, Any]] = [
    {"metrics": ["conversion_7d", "conversion_ever"], "group_by": ["metric_time__day"]},
    {"metrics": ["conversion_7d"], "group_by": ["referrer", "metric_time__week"], "start": "2024-03-04"},
    {"metrics": ["converted_amount_same_session"], "group_by": ["referrer"]},
]


def _copy(rows: dict[str, list[Any]], url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.exec_driver_sql(
            "create table visits (user_id int, ts timestamp null, referrer varchar(16), session_id int)")
        con.exec_driver_sql(
            "create table buys (user_id int, ts timestamp null, session_id int, amount double precision)")
        con.execute(sa.text("insert into visits values (:a, :b, :c, :d)"),
                    [dict(zip("abcd", r, strict=True)) for r in rows["visits"]])
        con.execute(sa.text("insert into buys values (:a, :b, :c, :d)"),
                    [dict(zip("abcd", r, strict=True)) for r in rows["buys"]])
    engine.dispose()


@pytest.mark.postgres
def test_postgres_gives_the_same_rows(catalog: Any, duck: DuckDBWarehouse, rows: Any, fresh_postgres_url: str) -> None:
    _copy(rows, fresh_postgres_url)
    same_rows_as_duckdb(catalog, duck, fresh_postgres_url, QUERIES)




@pytest.mark.mariadb
def test_mariadb_gives_the_same_rows(catalog: Any, duck: DuckDBWarehouse, rows: Any, mariadb_db: str) -> None:
    _copy(rows, mariadb_db)
    same_rows_as_duckdb(catalog, duck, mariadb_db, QUERIES)


def test_clickhouse_gives_the_same_rows(catalog: Any, duck: DuckDBWarehouse, chdb_warehouse: Any) -> None:
    copy_to_clickhouse(duck, chdb_warehouse, ["visits", "buys"])
    same_rows_on(catalog, duck, chdb_warehouse, QUERIES)


@pytest.mark.slow
def test_spark_gives_the_same_rows(catalog: Any, duck: DuckDBWarehouse, spark_warehouse: Any) -> None:
    copy_to_spark(duck, spark_warehouse, ["visits", "buys"], "default")
    same_rows_on(catalog, duck, spark_warehouse, QUERIES)
