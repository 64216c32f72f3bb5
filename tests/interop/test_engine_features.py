"""Engine features added for MetricFlow parity, checked against answers computed in Python from
the same rows: date parts, several metric_time grains, boolean filters, partition joins,
sub-daily grains, dimension-only queries with a time spine."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from metricloop.catalog.catalog import build_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.filters import Compare, FilterSyntaxError, Not, parse_filter
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse
from metricloop.errors import UnsupportedError
from metricloop.yamlio import Document

MODELS = """
time_spines:
  - {table: days, column: ds, grain: day}
semantic_models:
  - name: events
    table: events
    defaults: {agg_time_dimension: ts}
    entities:
      - {name: event, type: primary, expr: id}
      - {name: user, type: foreign, expr: user_id}
    dimensions:
      - {name: ts, type: time, type_params: {time_granularity: minute}}
      - {name: day, type: time, expr: ds_part, is_partition: true}
      - {name: is_paid, type: categorical}
    measures:
      - {name: n_events, agg: sum, expr: "1"}
      - {name: amount, agg: sum}
  - name: user_days
    table: user_days
    entities:
      - {name: user, type: primary, expr: user_id}
    dimensions:
      - {name: day, type: time, expr: ds_part, is_partition: true}
      - {name: country, type: categorical}
metrics:
  - {name: events, measure: n_events}
  - {name: revenue, measure: amount}
  - {name: events_3d, type: cumulative, input_metric: events, window: 3 days}
  - {name: events_filled, measure: n_events, join_to_timespine: true, fill_nulls_with: 0}
"""

START = dt.datetime(2024, 1, 1)


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(7)
    events = []
    for i in range(400):
        ts = START + dt.timedelta(minutes=rnd.randrange(0, 60 * 24 * 20))
        events.append((i, ts, rnd.randrange(5), rnd.random() < 0.4, round(rnd.uniform(1, 50), 2), ts.date()))
    # a user's country changes over time: one row per user per day (a daily snapshot)
    user_days = [
        (u, START.date() + dt.timedelta(days=d), ["CN", "US", "DE"][(u + d // 7) % 3])
        for u in range(4)
        for d in range(20)
    ]  # user 4 has no snapshot at all
    days = [(START + dt.timedelta(days=d),) for d in range(40)]
    return {"events": events, "user_days": user_days, "days": days}


@pytest.fixture(scope="module")
def engine(rows: dict[str, list[tuple[Any, ...]]]) -> Iterator[tuple[Compiler, DuckDBWarehouse]]:
    wh = DuckDBWarehouse(":memory:")
    con = wh.connection
    con.execute("create table events (id int, ts timestamp, user_id int, is_paid boolean, amount double, ds_part date)")
    con.executemany("insert into events values (?, ?, ?, ?, ?, ?)", rows["events"])
    con.execute("create table user_days (user_id int, ds_part date, country varchar)")
    con.executemany("insert into user_days values (?, ?, ?)", rows["user_days"])
    con.execute("create table days (ds timestamp)")
    con.executemany("insert into days values (?)", rows["days"])
    catalog = build_catalog([Document("m.yaml", yaml.safe_load(MODELS))])
    yield Compiler(catalog, "duckdb"), wh
    wh.close()


def run(engine: tuple[Compiler, DuckDBWarehouse], **kw: Any) -> list[dict[str, Any]]:
    compiler, wh = engine
    return wh.execute(compiler.compile(MetricQuery(**kw)).sql).to_pylist()


def test_a_bare_boolean_dimension_is_a_condition() -> None:
    assert parse_filter("{{ Dimension('event__is_paid') }}").root == Compare("event__is_paid", "=", True)
    assert parse_filter("NOT is_paid").root == Not(Compare("is_paid", "=", True))


def test_metrics_inside_filters_parse_and_need_a_group_by() -> None:
    f = parse_filter("{{ Metric('events', ['user']) }} > 2 and {{ Metric('revenue', group_by=['event__user']) }} > 1")
    assert [(r.name, r.group_by) for r in f.metric_refs()] == [("events", ("user",)), ("revenue", ("event__user",))]
    assert f.identifiers() == {"user"}  # the rows join the metric on the entity its group-by ends with
    with pytest.raises(FilterSyntaxError, match="group_by"):
        parse_filter("{{ Metric('events') }} > 2")


def test_a_metric_in_a_filter(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    """Events of users with more than 80 events in all (the metric is per user, over all time)."""
    per_user = Counter(r[2] for r in rows["events"])
    busy = {u for u, n in per_user.items() if n > 80}
    got = run(engine, metrics=["events"], group_by=["user"], where="{{ Metric('events', ['user']) }} > 80")
    assert {r["user"]: r["events"] for r in got} == {u: per_user[u] for u in busy}
    assert 0 < len(busy) < len(per_user)


def test_group_by_date_parts(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    got = run(engine, metrics=["events"], group_by=["metric_time__extract_dow", "metric_time__extract_month"])
    expected = Counter((r[1].isoweekday(), r[1].month) for r in rows["events"])
    assert {(r["metric_time__extract_dow"], r["metric_time__extract_month"]): r["events"] for r in got} == expected


def test_several_metric_time_grains_at_once(
    engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]
) -> None:
    got = run(engine, metrics=["events"], group_by=["metric_time__day", "metric_time__week"])
    expected = Counter((r[1].date(), r[1].date() - dt.timedelta(days=r[1].weekday())) for r in rows["events"])
    assert {(r["metric_time__day"].date(), r["metric_time__week"].date()): r["events"] for r in got} == expected


def test_sub_daily_grain(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    got = run(
        engine,
        metrics=["events"],
        group_by=["metric_time__minute"],
        start=dt.datetime(2024, 1, 2, 3, 0, 30),
        end=dt.datetime(2024, 1, 2, 9, 59, 0),
    )
    lo, hi = dt.datetime(2024, 1, 2, 3, 0), dt.datetime(2024, 1, 2, 10, 0)  # whole minutes
    expected = Counter(r[1] for r in rows["events"] if lo <= r[1] < hi)
    assert {r["metric_time__minute"]: r["events"] for r in got} == expected


def test_boolean_filter_in_a_query(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    got = run(engine, metrics=["revenue"], where="NOT {{ Dimension('event__is_paid') }}")
    assert got[0]["revenue"] == pytest.approx(sum(r[4] for r in rows["events"] if not r[3]))


def test_partition_dimensions_join_too(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    """The country of the user *on the event's day*: joining on the user alone would fan out."""
    got = run(engine, metrics=["events"], group_by=["user__country"])
    snapshot = {(u, d): c for u, d, c in rows["user_days"]}
    expected = Counter(snapshot.get((r[2], r[5])) for r in rows["events"])
    assert {r["user__country"]: r["events"] for r in got} == expected
    assert sum(r["events"] for r in got) == len(rows["events"])


def test_window_snaps_to_the_coarsest_time_grain_without_metric_time(
    engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]
) -> None:
    # ts has minute grain: without metric_time a range of dates is whole days (day is the floor)
    got = run(engine, metrics=["events"], start=dt.date(2024, 1, 3), end=dt.date(2024, 1, 4))
    expected = sum(1 for r in rows["events"] if dt.date(2024, 1, 3) <= r[1].date() <= dt.date(2024, 1, 4))
    assert got[0]["events"] == expected
    # a range given with hours (an incident window) is whole hours, the end hour included
    got = run(engine, metrics=["events"], start=dt.datetime(2024, 1, 3, 12, 30), end=dt.datetime(2024, 1, 4, 6, 10))
    lo, hi = dt.datetime(2024, 1, 3, 12), dt.datetime(2024, 1, 4, 7)
    assert got[0]["events"] == sum(1 for r in rows["events"] if lo <= r[1] < hi)


def test_dimension_values_without_metrics(engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]) -> None:
    got = run(engine, group_by=["user__country"], where="user__country != 'DE'")
    assert sorted(r["user__country"] for r in got) == sorted({c for _, _, c in rows["user_days"]} - {"DE"})
    spine = run(engine, group_by=["metric_time__week"], start=dt.datetime(2024, 1, 3), end=dt.datetime(2024, 1, 20))
    weeks = sorted(
        {
            (START + dt.timedelta(days=d)).date() - dt.timedelta(days=(START + dt.timedelta(days=d)).weekday())
            for d in range(40)
        }
    )
    assert [r["metric_time__week"].date() for r in spine] == [
        w for w in weeks if dt.date(2024, 1, 1) <= w <= dt.date(2024, 1, 15)
    ]
    both = run(engine, group_by=["metric_time__day", "event__is_paid"], where="metric_time__day < '2024-01-03'")
    assert len(both) == 2 * 2  # every day of the spine × both values


def test_dimension_values_need_a_spine_for_metric_time(rows: dict[str, list[Any]]) -> None:
    models = yaml.safe_load(MODELS)
    models.pop("time_spines")
    compiler = Compiler(build_catalog([Document("m.yaml", models)]), "duckdb")
    with pytest.raises(UnsupportedError, match="time spine"):
        compiler.compile(MetricQuery(group_by=["metric_time__day"]))


def test_cumulative_periods_come_from_the_time_spine(
    engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]
) -> None:
    """Days after the last event still carry the trailing window's rows (they have no rows themselves)."""
    lo, hi = dt.date(2024, 1, 15), dt.date(2024, 1, 25)
    got = run(engine, metrics=["events_3d"], group_by=["metric_time__day"], start=lo, end=hi)
    dates = [r[1].date() for r in rows["events"]]
    expected = {}
    for k in range((hi - lo).days + 1):
        day = lo + dt.timedelta(days=k)
        n = sum(1 for d in dates if day - dt.timedelta(days=3) < d <= day)
        if n:
            expected[day] = n
    assert {r["metric_time__day"].date(): r["events_3d"] for r in got} == expected
    assert max(expected) > max(dates)  # the spine, not the data, decided which days exist


def test_join_to_timespine_fills_empty_periods(
    engine: tuple[Compiler, DuckDBWarehouse], rows: dict[str, list[Any]]
) -> None:
    lo, hi = dt.date(2024, 1, 18), dt.date(2024, 1, 26)
    got = run(engine, metrics=["events_filled"], group_by=["metric_time__day"], start=lo, end=hi)
    counts = Counter(r[1].date() for r in rows["events"])
    expected = {lo + dt.timedelta(days=k): counts.get(lo + dt.timedelta(days=k), 0) for k in range((hi - lo).days + 1)}
    assert {r["metric_time__day"].date(): r["events_filled"] for r in got} == expected
    assert 0 in expected.values()
