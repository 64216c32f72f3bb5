"""Offsets in months or years over days: each day shows the value of the day one month (year)
before it, as MetricFlow computes it, never a forward shift that sums two days into one."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from metricloop.catalog.catalog import load_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse

MODELS = """\
semantic_models:
  - name: sales
    table: sales
    defaults: {agg_time_dimension: ds}
    entities:
      - {name: sale, type: primary, expr: sale_id}
    dimensions:
      - {name: ds, type: time, type_params: {time_granularity: day}}
    measures:
      - {name: amount, agg: sum}
metrics:
  - {name: amount, type: simple, measure: amount}
  - name: amount_month_ago
    type: derived
    expr: prior
    input_metrics:
      - {name: amount, offset_window: 1 month, alias: prior}
"""
SPINE = """
time_spines:
  - {table: spine, column: ds, grain: day}
"""
# one sale a day from 2024-01-25 to 2024-03-31, amount = day of year
DAYS = [dt.date(2024, 1, 25) + dt.timedelta(days=i) for i in range(67)]


def _compiler(tmp_path: Path, spine: bool) -> tuple[Compiler, DuckDBWarehouse]:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sales.yaml").write_text(MODELS + (SPINE if spine else ""), encoding="utf-8")
    wh = DuckDBWarehouse(":memory:")
    wh.execute("create table sales as select row_number() over () as sale_id, d::timestamp as ds, "
               "dayofyear(d)::double as amount from (select unnest(?::date[]) as d)", [DAYS])
    wh.execute("create table spine as select d::timestamp as ds from "
               "generate_series(timestamp '2023-01-01', timestamp '2026-12-31', interval 1 day) t(d)")
    return Compiler(load_catalog(tmp_path), "duckdb"), wh


def _rows(c: Compiler, wh: DuckDBWarehouse, **kw: Any) -> dict[dt.datetime, Any]:
    table = wh.execute(c.compile(MetricQuery(**kw)).sql).to_pylist()
    return {r["metric_time__day"]: r for r in table}


@pytest.mark.parametrize("spine", [True, False], ids=["time-spine", "no-spine"])
def test_month_offset_at_month_ends(tmp_path: Path, spine: bool) -> None:
    c, wh = _compiler(tmp_path, spine)
    got = _rows(c, wh, metrics=["amount_month_ago"], grain="day", start="2024-02-25", end="2024-03-31")
    prior = {d: r["amount_month_ago"] for d, r in got.items()}
    doy = {dt.datetime(d.year, d.month, d.day): float(d.timetuple().tm_yday) for d in DAYS}
    # Mar 29, 30 and 31 all look back to Feb 29; Feb 29 looks back to Jan 29 (not Jan 29 + 30 + 31)
    for day in (29, 30, 31):
        assert prior[dt.datetime(2024, 3, day)] == doy[dt.datetime(2024, 2, 29)]
    assert prior[dt.datetime(2024, 2, 29)] == doy[dt.datetime(2024, 1, 29)]
    assert prior[dt.datetime(2024, 2, 28)] == doy[dt.datetime(2024, 1, 28)]
    assert prior[dt.datetime(2024, 3, 1)] == doy[dt.datetime(2024, 2, 1)]


def test_last_year_compare_does_not_add_feb_29_to_feb_28(tmp_path: Path) -> None:
    c, wh = _compiler(tmp_path, True)
    wh.execute("insert into sales select 1000 + i, timestamp '2025-02-27' + i * interval 1 day, 1.0 "
               "from range(3) t(i)")
    got = _rows(c, wh, metrics=["amount"], grain="day", start="2025-02-27", end="2025-03-01",
                compare="last_year")
    assert got[dt.datetime(2025, 2, 28)]["amount__prev"] == 59.0  # 2024-02-28 alone, not + 2024-02-29 (60)
    assert got[dt.datetime(2025, 3, 1)]["amount__prev"] == 61.0  # 2024-03-01
