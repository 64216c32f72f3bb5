"""Drill-down measures on a table small enough to check by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from metricloop.explain import drill_down
from metricloop.explain.drilldown import OTHER


def js_term(p: float, q: float) -> float:
    m = (p + q) / 2
    return 0.5 * ((p * math.log(p / m) if p else 0.0) + (q * math.log(q / m) if q else 0.0))


@pytest.fixture
def sales() -> pd.DataFrame:
    # total expected 200, actual 150: north fell by 60, south rose by 10
    return pd.DataFrame({
        "region": ["north", "north", "south", "south"],
        "channel": ["app", "web", "app", "web"],
        "expected": [80.0, 20.0, 60.0, 40.0],
        "actual": [30.0, 10.0, 70.0, 40.0],
    })


def test_one_dimension_measures_by_hand(sales: pd.DataFrame) -> None:
    dd = drill_down(sales)
    assert dd.total_change == -50.0
    region = dd.dimension("region")
    north, south = region.rows
    assert (north.value, south.value) == ("north", "south")  # ranked by impact
    assert north.actual == 40.0
    assert north.expected == 100.0
    assert north.change == -60.0
    assert north.relative_change == pytest.approx(-0.6)
    assert north.contribution == pytest.approx(1.2)  # -60 / -50
    assert south.contribution == pytest.approx(-0.2)
    assert north.explanatory_power == pytest.approx(1.2)  # Adtributor EP = contribution here
    assert north.share_expected == pytest.approx(0.5)
    assert north.share_actual == pytest.approx(40 / 150)
    assert north.share_change == pytest.approx(40 / 150 - 0.5)
    assert north.surprise == pytest.approx(js_term(0.5, 40 / 150))
    assert region.surprise == pytest.approx(js_term(0.5, 40 / 150) + js_term(0.5, 110 / 150))


def test_dimensions_ranked_by_surprise(sales: pd.DataFrame) -> None:
    dd = drill_down(sales)
    # region: shares 0.5/0.5 -> 0.27/0.73; channel: 0.7/0.3 -> 0.67/0.33: region moved more
    assert [d.dimension for d in dd.dimensions] == ["region", "channel"]
    assert "region" in dd.summary.render("en")
    assert "north" in dd.summary.render("zh-CN")


def test_other_bucket_keeps_the_rows_adding_up() -> None:
    frame = pd.DataFrame({
        "city": [f"c{k}" for k in range(6)],
        "expected": [100.0, 50.0, 40.0, 30.0, 20.0, 10.0],
        "actual": [40.0, 55.0, 38.0, 29.0, 21.0, 10.0],
    })
    dd = drill_down(frame, top=2)
    rows = dd.dimension("city").rows
    assert [r.value for r in rows] == ["c0", "c1", OTHER]
    other = rows[-1]
    assert other.is_other
    assert other.members == 4
    assert other.actual == pytest.approx(98.0)
    assert other.expected == pytest.approx(100.0)
    assert sum(r.change for r in rows) == pytest.approx(dd.total_change)
    assert sum(r.contribution or 0 for r in rows) == pytest.approx(1.0)


def test_ratio_drill_down_splits_into_mix_and_rate() -> None:
    # conversion: app converts 10 % -> 5 % on the same traffic; web keeps 20 % but gains traffic
    frame = pd.DataFrame({
        "channel": ["app", "web"],
        "expected_num": [100.0, 200.0], "expected_den": [1000.0, 1000.0],
        "actual_num": [50.0, 300.0], "actual_den": [1000.0, 1500.0],
    })
    dd = drill_down(frame)
    assert dd.kind == "ratio"
    assert dd.total_expected == pytest.approx(0.15)
    assert dd.total_actual == pytest.approx(350 / 2500)
    app = next(r for r in dd.dimension("channel").rows if r.value == "app")
    web = next(r for r in dd.dimension("channel").rows if r.value == "web")
    # midpoint weights: w_app 0.5 -> 0.4, rates 0.10 -> 0.05
    assert app.rate_effect == pytest.approx((0.05 - 0.10) * (0.5 + 0.4) / 2)
    assert app.mix_effect == pytest.approx((0.4 - 0.5) * (0.10 + 0.05) / 2)
    assert web.rate_effect == pytest.approx(0.0)
    assert web.mix_effect == pytest.approx((0.6 - 0.5) * 0.20)
    effects = [app.mix_effect, app.rate_effect, web.mix_effect, web.rate_effect]
    assert sum(e or 0.0 for e in effects) == pytest.approx(dd.total_change)
    assert None not in effects
    assert (app.contribution or 0) + (web.contribution or 0) == pytest.approx(1.0)
    # Adtributor EP for a derived measure: only app moves -> (250/2000 - 0.15) / total change
    assert app.explanatory_power == pytest.approx((250 / 2000 - 0.15) / dd.total_change)
