"""The same metric queries give the same rows on DuckDB, PostgreSQL and MariaDB (real servers) and
on ClickHouse (chdb) through a project whose metricloop.yaml says ``warehouse.type: clickhouse``."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from metricloop.engine.query import MetricQuery
from metricloop.service import MetricLoop
from tests.conftest import write_tiny_project

QUERIES = [
    {"metrics": ["gmv", "orders", "buyers"], "group_by": ["region"], "grain": "month"},
    {
        "metrics": ["conversion_rate", "aov", "refund_rate"],
        "group_by": ["channel"],
        "where": "region in ('华东', '华南')",
    },
    {"metrics": ["gmv", "gmv_wow"], "grain": "day", "start": "2026-01-20", "end": "2026-01-25"},
    {"metrics": ["gmv"], "grain": "week", "compare": "previous_period", "start": "2026-01-12", "end": "2026-02-09"},
    {"metrics": ["gmv"], "grain": "quarter", "group_by": ["channel"]},
    {"metrics": ["orders"], "grain": "hour", "start": "2026-01-03", "end": "2026-01-03", "where": "channel != 'web'"},
    {"metrics": ["gmv_7d", "gmv_mtd"], "grain": "day", "start": "2026-02-01", "end": "2026-02-04"},
    {"metrics": ["gmv"], "group_by": ["buyer__tier"], "order_by": ["-gmv"], "limit": 1},
]


def copy_tables(src: Path, url: str) -> None:
    con = duckdb.connect(str(src), read_only=True)
    engine = sa.create_engine(url)
    for table in ("orders", "traffic", "buyers"):
        con.execute(f"select * from {table}").df().to_sql(table, engine, index=False, if_exists="replace")
    con.close()
    engine.dispose()


def point_at(project: Path, url: str) -> None:
    cfg = project / "metricloop.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + f"warehouse:\n  type: postgres\n  url: '{url}'\n".replace(
            "postgres", "mysql" if url.startswith("mysql") else "postgres"
        ),
        encoding="utf-8",
    )


def normalise(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    out = []
    for r in rows:
        out.append(
            tuple(
                round(v, 6) if isinstance(v, float) and not math.isnan(v) else (None if isinstance(v, float) else v)
                for v in r.values()
            )
        )
    return out




def compare_backends(tmp_path: Path, url: str) -> None:
    reference = MetricLoop.open(write_tiny_project(tmp_path / "duck"))
    other_root = write_tiny_project(tmp_path / "other")
    copy_tables(other_root / "warehouse.duckdb", url)
    point_at(other_root, url)
    other = MetricLoop.open(other_root)
    try:
        for q in QUERIES:
            query = MetricQuery(**q)  # type: ignore[arg-type]
            want = normalise(reference.query(query).rows())
            got = normalise(other.query(query).rows())
            assert got == want, f"{other.warehouse().dialect} differs from duckdb for {q}"
    finally:
        reference.close()
        other.close()


@pytest.mark.postgres
def test_postgres_matches_duckdb(tmp_path: Path, fresh_postgres_url: str) -> None:
    compare_backends(tmp_path, fresh_postgres_url)


@pytest.mark.mariadb
def test_mariadb_matches_duckdb(tmp_path: Path, mariadb_db: str) -> None:
    compare_backends(tmp_path, mariadb_db)


def test_a_clickhouse_project_matches_duckdb(tmp_path: Path, chdb_warehouse: object) -> None:
    from metricloop.engine.warehouse import DuckDBWarehouse
    from tests.engine.backends import copy_to_clickhouse

    reference = MetricLoop.open(write_tiny_project(tmp_path / "duck"))
    other_root = write_tiny_project(tmp_path / "other")
    duck = DuckDBWarehouse(other_root / "warehouse.duckdb", read_only=True)
    copy_to_clickhouse(duck, chdb_warehouse, ["orders", "traffic", "buyers"])
    duck.close()
    cfg = other_root / "metricloop.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "warehouse:\n  type: clickhouse\n  url: 'chdb://'\n",
                   encoding="utf-8")
    other = MetricLoop.open(other_root)
    try:
        assert other.warehouse().dialect == "clickhouse"
        for q in QUERIES:
            query = MetricQuery(**q)  # type: ignore[arg-type]
            assert normalise(other.query(query).rows()) == normalise(reference.query(query).rows()), q
    finally:
        reference.close()
        other.close()
