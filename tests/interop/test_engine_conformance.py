"""The MetricFlow conformance suite on the distributed engines: ClickHouse (chdb, in-process)
and Spark (local mode), each against DuckDB's answers to the suite's check queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricloop.bench import metricflow as mf


@pytest.mark.slow
def test_conformance_on_clickhouse(suite: Path, chdb_warehouse: object) -> None:
    results = mf.run(suite, engine="clickhouse")
    summary = mf.summary(results)
    assert summary["groups"]["a"]["pass_rate"] >= 0.99, mf.failure_causes(results)
    assert summary["overall"]["pass_rate"] >= 0.98, mf.failure_causes(results)


@pytest.mark.slow
def test_conformance_tiers_1_to_4_on_spark(suite: Path, spark_warehouse: object) -> None:
    results = mf.run(suite, engine="spark", url="spark://local[2]", only=lambda c: c.group == "a")
    summary = mf.summary(results)
    assert summary["groups"]["a"]["pass_rate"] >= 0.95, mf.failure_causes(results)
