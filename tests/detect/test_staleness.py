"""Stale data: how many periods a monitor could not judge because its data stopped."""

from __future__ import annotations

import datetime as dt

from metricloop.detect.monitor import MonitorSpec
from metricloop.detect.staleness import judge

HOURLY = MonitorSpec(name="m", metric="orders", grain="hour", delay="5m")
DAILY = MonitorSpec(name="d", metric="orders", grain="day", delay="1h")


def test_current_data_is_not_stale() -> None:
    at = dt.datetime(2026, 10, 5, 10, 7)
    assert judge(HOURLY, at, dt.datetime(2026, 10, 5, 9, 58)) is None  # the 09:00 hour is loaded
    assert judge(HOURLY, at, dt.datetime(2026, 10, 5, 9, 0)) is None  # an hour column: waits one period
    assert judge(HOURLY, at, None) is None  # freshness unknown: no claim either way
    assert judge(DAILY, dt.datetime(2026, 10, 5, 9), dt.datetime(2026, 10, 4, 23, 50)) is None


def test_data_that_stopped_is_reported_with_its_age_in_both_languages() -> None:
    s = judge(HOURLY, dt.datetime(2026, 12, 7, 10, 0), dt.datetime(2026, 10, 4, 23, 0), ("orders",))
    assert s is not None and s.behind > 1500 and s.age.days == 63
    assert "63 days ago" in s.render("en") and "orders" in s.render("en")
    assert "63 天前" in s.render("zh-CN") and "没有被判断" in s.render("zh-CN")
    d = judge(DAILY, dt.datetime(2026, 10, 8, 9), dt.datetime(2026, 10, 4, 23, 50))
    assert d is not None and d.behind == 3  # 10-05, 10-06 and 10-07 were not judged
