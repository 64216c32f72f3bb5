"""Shared fixtures: a small real project on disk, real databases when the machine has them.

PostgreSQL and MariaDB tests read their URLs from METRICLOOP_TEST_POSTGRES_URL and
METRICLOOP_TEST_MARIADB_URL (``.ci/run`` sets both); without them those tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metricloop.service import MetricLoop

POSTGRES_URL = os.environ.get("METRICLOOP_TEST_POSTGRES_URL")
MARIADB_URL = os.environ.get("METRICLOOP_TEST_MARIADB_URL")

TINY_MODELS = textwrap.dedent("""\
    semantic_models:
      - name: orders
        table: orders
        defaults: {agg_time_dimension: order_time}
        entities:
          - {name: order, type: primary, expr: order_id}
          - {name: buyer, type: foreign, expr: buyer_id}
        dimensions:
          - {name: order_time, type: time, type_params: {time_granularity: hour}}
          - {name: region, type: categorical}
          - {name: channel, type: categorical}
        measures:
          - {name: order_amount, agg: sum, expr: amount}
          - {name: order_count, agg: count, expr: order_id}
          - {name: buyer_count, agg: count_distinct, expr: buyer_id}
          - {name: refunded, agg: sum_boolean, expr: is_refunded}
      - name: traffic
        table: traffic
        defaults: {agg_time_dimension: hour}
        dimensions:
          - {name: hour, type: time, type_params: {time_granularity: hour}}
          - {name: region, type: categorical}
          - {name: channel, type: categorical}
        measures:
          - {name: session_count, agg: sum, expr: sessions}
      - name: buyers
        table: buyers
        defaults: {agg_time_dimension: signup_time}
        entities:
          - {name: buyer, type: primary, expr: id}
        dimensions:
          - {name: signup_time, type: time}
          - {name: tier, type: categorical}
    metrics:
      - name: gmv
        label: {zh-CN: 成交额, en: GMV}
        measure: order_amount
        synonyms: [销售额]
        tier: north_star
      - {name: orders, measure: order_count}
      - {name: buyers, measure: buyer_count}
      - {name: sessions, measure: session_count}
      - {name: refunded_orders, measure: refunded, polarity: lower_is_better}
      - {name: aov, type: ratio, numerator: gmv, denominator: orders}
      - {name: conversion_rate, type: ratio, numerator: orders, denominator: sessions}
      - {name: refund_rate, type: ratio, numerator: refunded_orders, denominator: orders}
      - name: app_gmv
        measure: order_amount
        filter: "channel = 'app'"
      - name: gmv_wow
        type: derived
        expr: gmv - gmv_last_week
        input_metrics:
          - gmv
          - {name: gmv, alias: gmv_last_week, offset_window: 7 days}
      - {name: gmv_7d, type: cumulative, input_metric: gmv, window: 7 days}
      - {name: gmv_mtd, type: cumulative, input_metric: gmv, grain_to_date: month}
    """)


def write_tiny_project(root: Path, state_url: str | None = None) -> Path:
    """A two-model project with 60 days of deterministic hourly data in DuckDB."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    state = f"state:\n  url: {state_url}\n" if state_url else ""
    (root / "metricloop.yaml").write_text(f"name: tiny\ntimezone: Asia/Shanghai\n{state}", encoding="utf-8")
    (root / "models" / "shop.yaml").write_text(TINY_MODELS, encoding="utf-8")
    import duckdb

    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute(TINY_DATA_SQL)
    con.close()
    return root


TINY_DATA_SQL = """
create or replace table orders as
select i as order_id,
       i % 97 as buyer_id,
       timestamp '2026-01-01 00:00:00' + to_minutes(i * 37) as order_time,
       ['华东', '华北', '华南'][(i % 3) + 1] as region,
       ['app', 'web'][((i // 3) % 2) + 1] as channel,
       round(((i * 7919) % 500) + 20.5, 2) as amount,
       (i % 17 = 0) as is_refunded
from range(2300) t(i);
create or replace table traffic as
select timestamp '2026-01-01 00:00:00' + to_hours(h) as hour, r as region, c as channel,
       (20 + (h * 13 + length(r) * 3 + length(c)) % 11)::bigint as sessions
from range(24 * 60) t(h), (values ('华东'), ('华北'), ('华南')) a(r), (values ('app'), ('web')) b(c);
create or replace table buyers as
select i as id, timestamp '2025-06-01' + to_days(i) as signup_time, ['gold', 'silver'][(i % 2) + 1] as tier
from range(97) t(i);
"""


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "tiny")


@pytest.fixture
def tiny(tiny_project: Path) -> Iterator[MetricLoop]:
    ml = MetricLoop.open(tiny_project)
    yield ml
    ml.close()


@pytest.fixture
def postgres_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("METRICLOOP_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    return POSTGRES_URL


@pytest.fixture
def mariadb_url() -> str:
    if not MARIADB_URL:
        pytest.skip("METRICLOOP_TEST_MARIADB_URL is not set (no MariaDB/MySQL to test against)")
    return MARIADB_URL


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as con:
        con.exec_driver_sql(f"create schema {schema}")
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as con:
        con.exec_driver_sql(f"drop schema {schema} cascade")
    engine.dispose()


@pytest.fixture
def mariadb_db(mariadb_url: str) -> Iterator[str]:
    """A MariaDB URL for a new, empty database (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as con:
        con.exec_driver_sql(f"create database {name} character set utf8mb4")
    yield mariadb_url.rsplit("/", 1)[0] + f"/{name}?charset=utf8mb4"
    with engine.begin() as con:
        con.exec_driver_sql(f"drop database {name}")
    engine.dispose()


@pytest.fixture(scope="session")
def chdb_warehouse() -> Iterator[Any]:
    """ClickHouse in-process (chdb), shared by the session's tests."""
    pytest.importorskip("chdb", reason="chdb is not installed (pip install -e '.[clickhouse]')")
    from metricloop.engine.warehouse import ClickHouseWarehouse

    wh = ClickHouseWarehouse("chdb://")
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def spark_warehouse() -> Iterator[Any]:
    """Spark in local mode, one SparkSession for the whole test session (a JVM start costs seconds)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark local mode (.ci/run installs openjdk-17-jre-headless)")
    from metricloop.engine.warehouse import SparkWarehouse

    wh = SparkWarehouse("spark://local[2]")
    yield wh
    wh.close()


def copy_demo_models(dst: Path) -> None:
    from metricloop.scaffold import DEMO_TEMPLATE

    shutil.copytree(DEMO_TEMPLATE, dst, dirs_exist_ok=True)
