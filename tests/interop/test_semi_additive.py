"""Semi-additive measures (``non_additive_dimension``) give MetricFlow's rows on every engine, and
what the compiler cannot compute exactly is refused with the file and line of the definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from metricloop.bench import metricflow as mf
from metricloop.catalog.catalog import load_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.errors import QueryError, UnsupportedError

CASES = Path(__file__).with_name("cases") / "itest_semi_additive.yaml"


def _run(suite: Path, engine: str, url: str | None = None) -> list[mf.CaseResult]:
    results = mf.run(suite, only=lambda c: c.file == CASES.name, extra_cases=[CASES], engine=engine, url=url,
                     only_tables=("fct_accounts", "dim_users_latest", "mf_time_spine"))
    assert len(results) == 13
    return results


def _failures(results: list[mf.CaseResult]) -> list[str]:
    return [f"{r.name}: {r.status} {r.detail}" for r in results if r.status != "pass"]


def test_semi_additive_cases_on_duckdb(suite: Path) -> None:
    assert not _failures(_run(suite, "duckdb"))


def test_semi_additive_cases_on_postgres(suite: Path, postgres_url: str) -> None:
    assert not _failures(_run(suite, "postgres", postgres_url))


def test_semi_additive_cases_on_mariadb(suite: Path, mariadb_url: str) -> None:
    assert not _failures(_run(suite, "mysql", mariadb_url))


MODELS = """\
semantic_models:
  - name: balances
    table: balances
    defaults: {agg_time_dimension: ds}
    entities:
      - {name: account, type: primary, expr: account_id}
    dimensions:
      - {name: ds, type: time, type_params: {time_granularity: day}}
      - {name: kind, type: categorical}
    measures:
      - name: balance
        agg: sum
        non_additive_dimension: {name: ds, window_choice: max, window_groupings: [account]}
      - name: bad_balance
        agg: sum
        expr: balance
        non_additive_dimension: {name: kind}
metrics:
  - {name: balance, type: simple, measure: balance}
  - {name: bad_balance, type: simple, measure: bad_balance}
  - name: balance_running
    type: cumulative
    input_metric: {name: balance}
    window: 7 days
"""


@pytest.fixture
def compiler(tmp_path: Path) -> Compiler:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "balances.yaml").write_text(MODELS, encoding="utf-8")
    return Compiler(load_catalog(tmp_path), "duckdb")


def test_a_non_time_non_additive_dimension_names_file_and_line(compiler: Compiler) -> None:
    with pytest.raises(QueryError) as err:
        compiler.compile(MetricQuery(metrics=["bad_balance"]))
    loc = err.value.location
    assert loc is not None and loc.file and loc.file.endswith("balances.yaml")
    assert loc.line == 17 and "non_additive_dimension" in (loc.field or "")
    assert "'kind' is not a time dimension" in err.value.message


def test_a_cumulative_window_over_a_balance_is_refused_not_summed(compiler: Compiler) -> None:
    with pytest.raises(UnsupportedError) as err:
        compiler.compile(MetricQuery(metrics=["balance_running"], grain="day"))
    loc = err.value.location
    assert loc is not None and loc.line == 13
    assert "semi-additive" in err.value.message


def test_semi_additive_cases_on_clickhouse(suite: Path, chdb_warehouse: object) -> None:
    assert not _failures(_run(suite, "clickhouse"))


@pytest.mark.slow
def test_semi_additive_cases_on_spark(suite: Path, spark_warehouse: object) -> None:
    assert not _failures(_run(suite, "spark", "spark://local[2]"))
