"""What the pages show, computed from a real project (no browser)."""

from __future__ import annotations

import datetime as dt

import pytest

from metricloop.catalog.models import Grain
from metricloop.engine.query import MetricQuery
from metricloop.service import MetricLoop
from metricloop.ui import data


@pytest.fixture
def admin(tiny: MetricLoop) -> object:
    tiny.access.create_user("root", role="admin")
    return tiny.access.principal("root")


def test_values_are_formatted_for_business_readers(tiny: MetricLoop) -> None:
    gmv = tiny.catalog.metric("gmv")
    assert data.format_value(gmv, 1234567.891) == "1,234,568"
    assert data.format_value(gmv, 12.345) == "12.35"
    cny = gmv.model_copy(update={"unit": "currency:CNY", "format": ",.0f"})
    assert data.format_value(cny, -9041.2) == "-¥9,041"
    rate = gmv.model_copy(update={"unit": "percent", "format": None})
    assert data.format_value(rate, 0.0389) == "3.89%"
    assert data.format_value(gmv, None) == "–"
    assert data.format_value(gmv, float("nan")) == "–"


def test_tone_follows_polarity(tiny: MetricLoop) -> None:
    assert data.change_tone(tiny.catalog.metric("gmv"), 0.05) == "good"
    assert data.change_tone(tiny.catalog.metric("refunded_orders"), 0.05) == "bad"
    assert data.change_tone(tiny.catalog.metric("gmv"), -0.001) == "neutral"


def test_status_board_compares_with_the_same_day_last_week(tiny: MetricLoop, admin: object) -> None:
    board = data.status_board(tiny, admin, "en")  # type: ignore[arg-type]
    assert board.day is not None
    card = next(c for c in board.tiers["north_star"] if c.metric == "gmv")
    day = dt.datetime.combine(board.day, dt.time())
    rows = tiny.query(MetricQuery(metrics=["gmv"], grain=Grain.day, start=day - dt.timedelta(days=7),
                                  end=day)).rows()
    by_day = {r["metric_time__day"].date(): float(r["gmv"]) for r in rows}
    assert card.raw == pytest.approx(by_day[board.day])
    assert card.change_pct == pytest.approx(by_day[board.day] / by_day[board.day - dt.timedelta(days=7)] - 1)
    assert card.label == "GMV"


def test_drill_down_splits_the_day_and_ranks_by_change(tiny: MetricLoop, admin: object) -> None:
    day = data.latest_day(tiny, admin, "gmv")  # type: ignore[arg-type]
    assert day is not None
    rows = data.drill_down(tiny, admin, "gmv", day, "region")  # type: ignore[arg-type]
    assert {r.member for r in rows} == {"华东", "华北", "华南"}
    when = dt.datetime.combine(day, dt.time())
    total = float(tiny.query(MetricQuery(metrics=["gmv"], grain=Grain.day, start=when, end=when)).rows()[0]["gmv"])
    assert sum(r.value or 0 for r in rows) == pytest.approx(total)
    assert sum(r.share or 0 for r in rows) == pytest.approx(1.0)
    deltas = [abs(r.delta or 0) for r in rows]
    assert deltas == sorted(deltas, reverse=True)


def test_drill_dimensions_leave_out_time_and_join_keys(tiny: MetricLoop) -> None:
    dims = data.drill_dimensions(tiny, "gmv")
    assert dims[:2] == ["region", "channel"]
    assert "order" not in dims
    assert "order_time" not in dims


def test_calculation_reads_in_words(tiny: MetricLoop) -> None:
    assert data.calculation_text(tiny, tiny.catalog.metric("aov"), "en") == "GMV ÷ orders"
    assert "channel = 'app'" in data.calculation_text(tiny, tiny.catalog.metric("app_gmv"), "en")
