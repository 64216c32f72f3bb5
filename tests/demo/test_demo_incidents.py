"""Injected incidents: the ground truth is honest and each incident is visible in the data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from demo_sql import connect, one

from metricloop.demo import DEFAULT_INCIDENTS, METRICS, DemoData, IncidentSpec, generate, write
from metricloop.errors import ConfigError

# metric -> (table, time column, aggregate); conversion_rate = orders / sessions
METRIC_SQL = {
    "orders": ("orders", "order_time", "count(*)"),
    "gmv": ("orders", "order_time", "sum(amount)"),
    "aov": ("orders", "order_time", "sum(amount) / count(*)"),
    "buyers": ("orders", "order_time", "count(distinct buyer_id)"),
    "refund_rate": ("orders", "order_time", "avg(is_refunded::int)"),
    "new_buyer_share": ("orders", "order_time", "avg((buyer_type = 'new')::int)"),
    "items_per_order": ("orders", "order_time", "avg(items)"),
    "sessions": ("traffic", "hour", "sum(sessions)"),
    "payment_success_rate": ("payments", "hour", "sum(successes) / sum(attempts)"),
    "on_time_delivery_rate": ("deliveries", "ship_time", "avg(on_time::int)"),
}


def value(con: duckdb.DuckDBPyConnection, metric: str, where: dict[str, str], start: datetime,
          end: datetime) -> float:  # fmt: skip
    """The metric over [start, end) in the slice, computed with plain SQL (independent of the generator)."""
    if metric == "conversion_rate":
        return value(con, "orders", where, start, end) / value(con, "sessions", where, start, end)
    table, time_col, agg = METRIC_SQL[metric]
    cond = "".join(f" and {dim} = ?" for dim in where)
    (v,) = one(con, f"select {agg} from {table} where {time_col} >= ? and {time_col} < ?{cond}",
               [start, end, *where.values()])  # fmt: skip
    return float(v)


def incidents(data: DemoData) -> list[dict[str, Any]]:
    return data.ground_truth()


@pytest.fixture(scope="module", params=["recent", "early"])
def world(request: pytest.FixtureRequest) -> DemoData:
    data: DemoData = request.getfixturevalue(request.param)
    return data


def test_realised_change_is_what_the_tables_show(world: DemoData) -> None:
    """``realised_change`` = metric with incidents / metric without - 1, in the slice and window."""
    act, cf = connect(world), connect(world, counterfactual=True)
    assert world.incidents
    for inc in incidents(world):
        start, end = datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])
        for metric in inc["metrics"]:
            where = inc["measured_on"][metric]
            assert set(where.items()) <= set(inc["slices"][0].items())
            measured = value(act, metric, where, start, end) / value(cf, metric, where, start, end) - 1
            assert measured == pytest.approx(inc["realised_change"][metric], abs=2e-4), (inc["id"], metric)


def test_realised_change_is_close_to_the_expected_change(world: DemoData) -> None:
    for inc in incidents(world):
        assert set(inc["expected_change"]) == set(inc["metrics"]), inc["id"]
        for metric, expected in inc["expected_change"].items():
            realised = inc["realised_change"][metric]
            tolerance = 0.1 + 0.3 * abs(expected)
            assert abs(realised - expected) <= tolerance, (inc["id"], metric, realised, expected)


def test_incidents_stand_out_against_the_previous_weeks(world: DemoData) -> None:
    """What a monitor sees: the slice's metric vs the same hours one and two weeks earlier."""
    con = connect(world)
    checked = 0
    for inc in incidents(world):
        start, end = datetime.fromisoformat(inc["start"]), datetime.fromisoformat(inc["end"])
        for metric, expected in inc["expected_change"].items():
            if abs(expected) < 0.25:
                continue
            where = inc["measured_on"][metric]
            now = value(con, metric, where, start, end)
            back = [timedelta(days=7), timedelta(days=14)]
            weeks = [value(con, metric, where, start - b, end - b) for b in back]
            change = now / (sum(weeks) / 2) - 1
            assert change * expected > 0, (inc["id"], metric, change)
            assert abs(change) >= 0.4 * abs(expected), (inc["id"], metric, change)
            checked += 1
    assert checked >= 2 * len(world.incidents)


def _outside(windows: list[tuple[datetime, datetime]], *cols: str) -> str:
    return " and ".join(f"not ({c} >= '{s}' and {c} < '{e}')" for s, e in windows for c in cols) or "true"


def test_nothing_changes_outside_the_incident_windows(world: DemoData) -> None:
    con = connect(world)
    assert world.counterfactual is not None
    for name, table in world.counterfactual.items():
        con.register(f"cf_{name}", table)
    truth = world.ground_truth()
    windows = [(datetime.fromisoformat(i["start"]), datetime.fromisoformat(i["end"])) for i in truth]
    order_cols = "order_id, buyer_id, amount, discount, is_refunded, refund_amount, items"
    delivery_cols = "order_id, carrier, ship_time, promised_time, delivered_time"
    checks = {
        "orders": (("order_time",), order_cols),
        "traffic": (("hour",), "hour, province, channel, sessions"),
        "payments": (("hour",), "hour, province, channel, payment_method, attempts, successes"),
        "deliveries": (("order_time", "ship_time"), delivery_cols),
    }
    for table, (time_cols, cols) in checks.items():
        where = _outside(windows, *time_cols)
        (n,) = one(con, f"select count(*) from {table} where {where}")
        assert n > 0
        for a, b in ((table, f"cf_{table}"), (f"cf_{table}", table)):
            sql = (f"select count(*) from (select {cols} from {a} where {where}"
                   f" except all select {cols} from {b} where {where})")  # fmt: skip
            assert one(con, sql) == (0,), (table, a)


def test_default_catalogue_has_the_required_mix() -> None:
    assert len(DEFAULT_INCIDENTS) >= 8
    recent = [s for s in DEFAULT_INCIDENTS if s.start >= datetime(2026, 4, 1)]
    assert len(recent) >= 6
    assert len(DEFAULT_INCIDENTS) - len(recent) >= 2
    keys = [(s.kind, tuple(sorted(s.slice.items()))) for s in DEFAULT_INCIDENTS]
    assert len(set(keys)) < len(keys), "a repeat of an earlier incident lets a similar past case exist"
    assert len({s.kind for s in DEFAULT_INCIDENTS}) >= 6
    assert len({s.id for s in DEFAULT_INCIDENTS}) == len(DEFAULT_INCIDENTS)


def test_ground_truth_records_are_complete(two_years: DemoData) -> None:
    truth = two_years.ground_truth()
    assert len(truth) == len(DEFAULT_INCIDENTS)  # all fall inside the default range
    columns = {c for t in two_years.tables().values() for c in t.column_names}
    for inc in truth:
        assert datetime.fromisoformat(inc["start"]) < datetime.fromisoformat(inc["end"])
        assert inc["metrics"]
        assert set(inc["metrics"]) <= set(METRICS)
        assert inc["slices"]
        assert all(set(s) <= columns for s in inc["slices"])
        assert inc["description"]["en"]
        assert inc["description"]["zh-CN"]
        assert set(inc["realised_change"]) == set(inc["metrics"])
    json.dumps(truth, ensure_ascii=False)


def test_write_parquet_and_ground_truth(two_years: DemoData, tmp_path: Path) -> None:
    paths = write(two_years, tmp_path / "data")
    assert set(paths) == {"orders", "traffic", "payments", "deliveries", "ground_truth"}
    con = duckdb.connect()
    for name, table in two_years.tables().items():
        (n,) = one(con, f"select count(*) from read_parquet('{paths[name]}')")
        assert n == table.num_rows
    (province_type,) = one(con, f"select typeof(province) from read_parquet('{paths['orders']}') limit 1")
    assert province_type == "VARCHAR"
    saved = json.loads(paths["ground_truth"].read_text(encoding="utf-8"))
    assert saved["incidents"] == two_years.ground_truth()
    assert saved["generator"]["seed"] == 42


def test_incident_specs_are_checked() -> None:
    good = DEFAULT_INCIDENTS[0]
    bad_dim = IncidentSpec(**{**vars(good), "slice": {"colour": "red"}})
    with pytest.raises(ConfigError, match="colour"):
        generate(date(2025, 3, 1), date(2025, 3, 20), scale=0.05, incidents=(bad_dim,))
    bad_value = IncidentSpec(**{**vars(good), "slice": {"province": "Atlantis"}})
    with pytest.raises(ConfigError, match="Atlantis"):
        bad_value.check()


def test_incidents_outside_the_range_are_left_out() -> None:
    data = generate(date(2025, 3, 12), date(2025, 3, 13), scale=0.05)
    assert [i.id for i in data.incidents] == ["INC-2025-03-12-pay-gd-wechat"]
    # the price error runs 20:00-02:00 across midnight: a range ending at midnight cuts it, so it is left out
    cut = generate(date(2026, 7, 21), date(2026, 7, 22), scale=0.05)
    assert cut.incidents == []
    whole = generate(date(2026, 7, 21), date(2026, 7, 23), scale=0.05)
    assert [i.id for i in whole.incidents] == ["INC-2026-07-21-price-error-appliance"]
