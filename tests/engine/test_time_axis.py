"""The time axis of offset and cumulative metrics, checked against answers computed in Python from
the same rows, then run unchanged on PostgreSQL and MariaDB (equal rows required).

Covers what MetricFlow parity needed: the metric's own time dimension behaves as metric_time,
filters on the time axis hold for the output period, cumulative values at coarser grains
(``period_agg``), ``offset_to_grain``, custom granularities read from the time spine, metrics
used inside filters, and slowly changing dimensions (the version valid at the row's time).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from metricloop.catalog.catalog import build_catalog
from metricloop.catalog.models import Grain
from metricloop.engine.compiler import Compiler, floor_to_grain
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import DefinitionError, QueryError, UnsupportedError
from metricloop.yamlio import Document
from tests.engine.backends import copy_to_clickhouse, copy_to_spark, run, same_rows_as_duckdb, same_rows_on

MODELS = """
time_spines:
  - table: days
    column: ds
    grain: day
    custom_granularities:
      - {name: retail_week, column: retail_week_start}
semantic_models:
  - name: sales
    table: sales
    defaults: {agg_time_dimension: sold_at}
    entities:
      - {name: sale, type: primary, expr: id}
      - {name: store, type: foreign}
    dimensions:
      - {name: sold_at, type: time, expr: ts}
    measures:
      - {name: revenue, agg: sum, expr: amount}
  - name: stores
    table: stores
    defaults: {agg_time_dimension: opened_at}
    entities:
      - {name: store, type: primary}
    dimensions:
      - {name: opened_at, type: time}
      - {name: region, type: categorical}
    measures:
      - {name: store_count, agg: count, expr: store}
  - name: store_versions
    table: store_versions
    entities:
      - {name: store, type: natural}
    dimensions:
      - {name: valid_from, type: time, type_params: {time_granularity: day, validity_params: {is_start: true}}}
      - {name: valid_to, type: time, type_params: {time_granularity: day, validity_params: {is_end: true}}}
      - {name: format, type: categorical}
metrics:
  - {name: stores, measure: store_count}
  - {name: big_stores, measure: store_count, filter: "{{ Metric('revenue', group_by=['store']) }} > 4400"}
  - {name: revenue, measure: revenue}
  - {name: revenue_mtd, type: cumulative, input_metric: revenue, grain_to_date: month}
  - {name: revenue_7d_first, type: cumulative, input_metric: revenue, window: 7 days, period_agg: first}
  - {name: revenue_7d_avg, type: cumulative, input_metric: revenue, window: 7 days, period_agg: average}
  - name: revenue_last_week
    type: derived
    expr: r
    input_metrics: [{name: revenue, alias: r, offset_window: 7 days}]
  - name: revenue_since_month_start
    type: derived
    expr: revenue - r0
    input_metrics: [revenue, {name: revenue, alias: r0, offset_to_grain: month}]
  - name: revenue_filled
    measure: revenue
    join_to_timespine: true
    fill_nulls_with: 0
"""

SPINE_START, SPINE_DAYS = dt.datetime(2023, 12, 1), 214  # to 2024-06-30
STORES = ["north", "south", "harbour", "airport"]  # the airport store has no sales


def retail_week(day: dt.datetime) -> dt.datetime:
    """Retail weeks start on Saturday."""
    return day - dt.timedelta(days=(day.weekday() + 2) % 7)


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(11)
    sales = []
    for i in range(300):
        day = dt.datetime(2024, 1, 1) + dt.timedelta(days=rnd.randrange(0, 121), hours=rnd.randrange(24))
        sales.append((i, day, rnd.choice(STORES[:3]), round(rnd.uniform(1, 100), 2)))
    days = [(SPINE_START + dt.timedelta(days=k),) for k in range(SPINE_DAYS)]
    stores = [(s, dt.datetime(2023, 1 + k, 1), "east" if k % 2 else "west") for k, s in enumerate(STORES)]
    versions = [("north", dt.datetime(2023, 1, 1), dt.datetime(2024, 2, 15), "kiosk"),
                ("north", dt.datetime(2024, 2, 15), None, "mall"),
                ("south", dt.datetime(2023, 1, 1), None, "mall"),
                ("harbour", dt.datetime(2024, 3, 1), None, "outlet")]  # no version before March
    return {"sales": sales, "days": [(d, retail_week(d)) for (d,) in days], "stores": stores,
            "store_versions": versions}


@pytest.fixture(scope="module")
def catalog() -> Any:
    return build_catalog([Document("m.yaml", yaml.safe_load(MODELS))])


@pytest.fixture(scope="module")
def duck(rows: dict[str, list[Any]]) -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(":memory:")
    con = wh.connection
    con.execute("create table sales (id int, ts timestamp, store varchar, amount double)")
    con.executemany("insert into sales values (?, ?, ?, ?)", rows["sales"])
    con.execute("create table days (ds timestamp, retail_week_start timestamp)")
    con.executemany("insert into days values (?, ?)", rows["days"])
    con.execute("create table stores (store varchar, opened_at timestamp, region varchar)")
    con.executemany("insert into stores values (?, ?, ?)", rows["stores"])
    con.execute("create table store_versions (store varchar, valid_from timestamp, valid_to timestamp, format varchar)")
    con.executemany("insert into store_versions values (?, ?, ?, ?)", rows["store_versions"])
    yield wh
    wh.close()



def daily(rows: dict[str, list[Any]]) -> dict[dt.datetime, float]:
    out: dict[dt.datetime, float] = defaultdict(float)
    for _, ts, _, amount in rows["sales"]:
        out[floor_to_grain(ts, Grain.day)] += amount
    return out


def close(got: dict[Any, Any], want: dict[Any, Any]) -> bool:
    return got.keys() == want.keys() and all(
        (got[k] is None and want[k] is None) or math.isclose(got[k], want[k], rel_tol=1e-9) for k in want
    )


def test_offsets_by_the_metrics_own_time_dimension(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    """``sale__sold_at__day`` is the metric's time axis: an offset shifts it like metric_time."""
    by_dim = run(catalog, duck, metrics=["revenue_last_week"], group_by=["sale__sold_at__day"])
    by_time = run(catalog, duck, metrics=["revenue_last_week"], group_by=["metric_time__day"])
    want = {d + dt.timedelta(days=7): v for d, v in daily(rows).items()}
    assert close({r["sale__sold_at__day"]: r["revenue_last_week"] for r in by_dim}, want)
    assert close({r["metric_time__day"]: r["revenue_last_week"] for r in by_time}, want)


def test_a_filter_on_the_time_axis_holds_for_the_output_period(
    catalog: Any, duck: DuckDBWarehouse, rows: Any
) -> None:
    got = run(catalog, duck, metrics=["revenue_last_week"], group_by=["metric_time__day"],
              where="metric_time__day >= '2024-02-01' and metric_time__day < '2024-02-08'")
    d = daily(rows)
    want = {dt.datetime(2024, 2, 1) + dt.timedelta(days=k): d.get(dt.datetime(2024, 1, 25) + dt.timedelta(days=k))
            for k in range(7)}
    assert close({r["metric_time__day"]: r["revenue_last_week"] for r in got}, {k: v for k, v in want.items() if v})


def windows(rows: Any, lo: dt.datetime, hi: dt.datetime, days: int | None) -> dict[dt.datetime, float]:
    """Each spine day in [lo, hi]: the sum over its trailing window (or month to date)."""
    d = daily(rows)
    out = {}
    day = lo
    while day <= hi:
        first = day - dt.timedelta(days=days - 1) if days else day.replace(day=1)
        vals = [v for k, v in d.items() if first <= k <= day]
        if vals:
            out[day] = sum(vals)
        day += dt.timedelta(days=1)
    return out


def test_cumulative_values_at_coarser_grains_follow_period_agg(
    catalog: Any, duck: DuckDBWarehouse, rows: Any
) -> None:
    lo, hi = dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 31)
    got = run(catalog, duck, metrics=["revenue_mtd", "revenue_7d_first", "revenue_7d_avg"],
              group_by=["metric_time__week", "metric_time__month"], start=lo.date(), end=hi.date())
    mtd, w7 = windows(rows, lo, hi, None), windows(rows, lo, hi, 7)
    periods: dict[tuple[dt.datetime, dt.datetime], list[dt.datetime]] = defaultdict(list)
    for day in sorted(w7):
        periods[(floor_to_grain(day, Grain.week), floor_to_grain(day, Grain.month))].append(day)
    by_key = {(r["metric_time__week"], r["metric_time__month"]): r for r in got}
    assert by_key.keys() == periods.keys()
    for key, days in periods.items():
        assert by_key[key]["revenue_7d_first"] == pytest.approx(w7[days[0]])
        assert by_key[key]["revenue_7d_avg"] == pytest.approx(sum(w7[d] for d in days) / len(days))
        last = max(d for d in mtd if (floor_to_grain(d, Grain.week), floor_to_grain(d, Grain.month)) == key)
        assert by_key[key]["revenue_mtd"] == pytest.approx(mtd[last])  # the default: the period's last day
    # at the days' own grain the value is the day's window, whatever period_agg says
    by_day = run(catalog, duck, metrics=["revenue_7d_first"], group_by=["metric_time__day"],
                 start=lo.date(), end=hi.date())
    assert close({r["metric_time__day"]: r["revenue_7d_first"] for r in by_day}, w7)


def test_offset_to_grain(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    d = daily(rows)
    got = run(catalog, duck, metrics=["revenue_since_month_start"], group_by=["metric_time__day"],
              start="2024-02-01", end="2024-02-29")
    want = {}
    for k in range(29):
        day = dt.datetime(2024, 2, 1) + dt.timedelta(days=k)
        now, start = d.get(day), d.get(dt.datetime(2024, 2, 1))
        if now is not None or start is not None:
            want[day] = None if now is None or start is None else now - start
    assert close({r["metric_time__day"]: r["revenue_since_month_start"] for r in got}, want)
    # at the month grain: the month's revenue minus its first day's
    monthly = run(catalog, duck, metrics=["revenue_since_month_start"], group_by=["metric_time__month"])
    by_month: dict[dt.datetime, float] = defaultdict(float)
    for day, v in d.items():
        by_month[floor_to_grain(day, Grain.month)] += v
    want_m = {m: v - d[m] if m in d else None for m, v in by_month.items()}
    assert close({r["metric_time__month"]: r["revenue_since_month_start"] for r in monthly}, want_m)


def test_offset_to_grain_needs_the_time_axis_and_no_second_offset(catalog: Any) -> None:
    with pytest.raises(QueryError, match="offset_to_grain"):
        Compiler(catalog).compile(MetricQuery(metrics=["revenue_since_month_start"], group_by=["store"]))
    bad = yaml.safe_load(MODELS)
    bad["metrics"].append({"name": "odd", "type": "derived", "expr": "x", "input_metrics": [
        {"name": "revenue_last_week", "alias": "x", "offset_to_grain": "month"}]})
    with pytest.raises(UnsupportedError, match="offset_to_grain"):
        Compiler(build_catalog([Document("m.yaml", bad)])).compile(
            MetricQuery(metrics=["odd"], group_by=["metric_time__day"]))


def test_custom_granularity_group_by_filter_and_spine(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    by_week: dict[dt.datetime, float] = defaultdict(float)
    for day, v in daily(rows).items():
        by_week[retail_week(day)] += v
    got = run(catalog, duck, metrics=["revenue"], group_by=["sale__sold_at__retail_week"])
    assert close({r["sale__sold_at__retail_week"]: r["revenue"] for r in got}, dict(by_week))
    cut = dt.datetime(2024, 3, 2)
    got = run(catalog, duck, metrics=["revenue"], where="metric_time__retail_week >= '2024-03-02'")
    assert got[0]["revenue"] == pytest.approx(sum(v for w, v in by_week.items() if w >= cut))
    # join_to_timespine lists every retail week of the spine, filled with 0
    filled = run(catalog, duck, metrics=["revenue_filled"], group_by=["metric_time__retail_week"])
    weeks = {retail_week(d) for (d, _) in rows["days"]}
    assert close({r["metric_time__retail_week"]: r["revenue_filled"] for r in filled},
                 {w: by_week.get(w, 0.0) for w in weeks})
    # a dimension-only query reads the custom grain from the spine
    values = run(catalog, duck, group_by=["metric_time__retail_week"], start="2024-01-01", end="2024-01-31")
    assert [r["metric_time__retail_week"] for r in values] == sorted(
        {retail_week(dt.datetime(2024, 1, 1) + dt.timedelta(days=k)) for k in range(31)})


def test_metrics_inside_filters(catalog: Any, duck: DuckDBWarehouse, rows: Any) -> None:
    """A metric per store, over all time, decides which rows count (stores without sales never do)."""
    per_store: dict[str, float] = defaultdict(float)
    for _, _, store, amount in rows["sales"]:
        per_store[store] += amount
    big = {s for s, v in per_store.items() if v > 4400}  # south and harbour, not north
    assert 0 < len(big) < len(per_store)
    got = run(catalog, duck, metrics=["big_stores"], group_by=["store__region"])
    regions = {s: r for s, _, r in rows["stores"]}
    want: dict[str, int] = defaultdict(int)
    for s in big:
        want[regions[s]] += 1
    assert {r["store__region"]: r["big_stores"] for r in got} == dict(want)
    # in a query's filter, with a time range on the outer metric only
    got = run(catalog, duck, metrics=["revenue"], group_by=["store"], start="2024-02-01", end="2024-02-29",
              where="{{ Metric('revenue', group_by=['store']) }} > 4400 and store != 'south'")
    feb: dict[str, float] = defaultdict(float)
    for _, ts, store, amount in rows["sales"]:
        if ts.month == 2 and store in big and store != "south":
            feb[store] += amount
    assert close({r["store"]: r["revenue"] for r in got}, dict(feb))
    # a dimension-only query: the stores whose revenue passes
    values = run(catalog, duck, group_by=["store"], where="{{ Metric('revenue', group_by=['store']) }} > 4400")
    assert {r["store"] for r in values} == big


def test_an_unknown_metric_in_a_filter_is_a_definition_error() -> None:
    typo = yaml.safe_load(MODELS)
    typo["metrics"].append({"name": "typo", "measure": "revenue",
                            "filter": "{{ Metric('revenu', group_by=['store']) }} > 1"})
    with pytest.raises(DefinitionError, match="unknown metric 'revenu'.*did you mean 'revenue'"):
        build_catalog([Document("m.yaml", typo)])


def test_a_slowly_changing_dimension_joins_the_version_valid_at_the_row(
    catalog: Any, duck: DuckDBWarehouse, rows: Any
) -> None:
    want: dict[Any, float] = defaultdict(float)
    for _, ts, store, amount in rows["sales"]:
        valid = [f for s, lo, hi, f in rows["store_versions"] if s == store and lo <= ts and (hi is None or ts < hi)]
        assert len(valid) <= 1
        want[valid[0] if valid else None] += amount
    got = run(catalog, duck, metrics=["revenue"], group_by=["store__format"])
    assert close({r["store__format"]: r["revenue"] for r in got}, dict(want))
    assert set(want) == {"kiosk", "mall", "outlet", None}


def test_a_metric_used_in_its_own_filter_is_an_error(catalog: Any) -> None:
    looped = yaml.safe_load(MODELS)
    looped["metrics"].append({"name": "loop", "measure": "revenue",
                              "filter": "{{ Metric('loop', group_by=['store']) }} > 1"})
    with pytest.raises(QueryError, match="its own filter"):
        Compiler(build_catalog([Document("m.yaml", looped)])).compile(MetricQuery(metrics=["loop"]))


QUERIES: list[dict[str, Any]] = [
    {"metrics": ["revenue_last_week"], "group_by": ["sale__sold_at__day"]},
    {"metrics": ["revenue_last_week"], "group_by": ["metric_time__day"], "where": "metric_time__day >= '2024-02-01'"},
    {"metrics": ["revenue_mtd", "revenue_7d_first", "revenue_7d_avg"],
     "group_by": ["metric_time__week", "metric_time__month"], "start": "2024-01-01", "end": "2024-03-31"},
    {"metrics": ["revenue_since_month_start"], "group_by": ["metric_time__day"], "start": "2024-02-01",
     "end": "2024-03-15"},
    {"metrics": ["revenue_since_month_start"], "group_by": ["metric_time__month", "store"]},
    {"metrics": ["revenue", "revenue_7d_avg"], "group_by": ["metric_time__retail_week"],
     "where": "metric_time__retail_week >= '2024-02-03'"},
    {"metrics": ["revenue_filled"], "group_by": ["metric_time__retail_week"]},
    {"metrics": ["big_stores", "stores"], "group_by": ["store__region"]},
    {"metrics": ["revenue"], "group_by": ["store"], "where": "{{ Metric('revenue', group_by=['store']) }} > 4400"},
    {"metrics": ["revenue", "revenue_7d_avg"], "group_by": ["store__format", "metric_time__month"]},
]


def _copy(rows: dict[str, list[Any]], url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as con:
        con.exec_driver_sql(
            "create table sales (id int, ts timestamp null, store varchar(16), amount double precision)")
        con.exec_driver_sql("create table days (ds timestamp null, retail_week_start timestamp null)")
        con.exec_driver_sql("create table stores (store varchar(16), opened_at timestamp null, region varchar(16))")
        con.exec_driver_sql("create table store_versions (store varchar(16), valid_from timestamp null, "
                            "valid_to timestamp null, format varchar(16))")
        con.execute(sa.text("insert into store_versions values (:a, :b, :c, :d)"),
                    [dict(zip("abcd", r, strict=True)) for r in rows["store_versions"]])
        con.execute(sa.text("insert into stores values (:a, :b, :c)"),
                    [dict(zip("abc", r, strict=True)) for r in rows["stores"]])
        con.execute(sa.text("insert into sales values (:a, :b, :c, :d)"),
                    [dict(zip("abcd", r, strict=True)) for r in rows["sales"]])
        con.execute(sa.text("insert into days values (:a, :b)"),
                    [dict(zip("ab", r, strict=True)) for r in rows["days"]])
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
    copy_to_clickhouse(duck, chdb_warehouse, ["sales", "days", "stores", "store_versions"])
    same_rows_on(catalog, duck, chdb_warehouse, QUERIES)


@pytest.mark.slow
def test_spark_gives_the_same_rows(catalog: Any, duck: DuckDBWarehouse, spark_warehouse: Any) -> None:
    copy_to_spark(duck, spark_warehouse, ["sales", "days", "stores", "store_versions"], "default")
    # one query per feature (offset, period_agg, custom grain, metric filter, SCD): a Spark local
    # query takes seconds
    same_rows_on(catalog, duck, spark_warehouse, [QUERIES[i] for i in (0, 2, 5, 8, 9)])
