"""The MetricFlow conformance suite on ClickHouse (chdb, in-process) against DuckDB's answers to
the suite's check queries. Spark local mode answers a case in seconds, so CI runs the
semi-additive cases and the engine tests on Spark; the whole suite there is
``metricloop bench metricflow --engine spark``."""

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
