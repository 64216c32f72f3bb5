"""The demo's scripted owners match an incident to its injected cause by time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from metricloop.demo.story import _overlaps

SHANGHAI = ZoneInfo("Asia/Shanghai")
TRUTH = {"start": "2026-07-21T10:00:00", "end": "2026-07-21T18:00:00"}  # project wall clock


def _incident(start: str, end: str) -> dict[str, dt.datetime]:
    return {"window_start": dt.datetime.fromisoformat(start), "window_end": dt.datetime.fromisoformat(end)}


def test_a_daily_incident_on_the_day_of_the_cause_is_that_cause() -> None:
    # a daily event's window is [start of first day, start of last day]: the whole day counts
    assert _overlaps(_incident("2026-07-21T00:00:00", "2026-07-21T00:00:00"), TRUTH, SHANGHAI)


def test_hourly_incidents_match_only_near_the_cause() -> None:
    assert _overlaps(_incident("2026-07-21T11:00:00", "2026-07-21T13:00:00"), TRUTH, SHANGHAI)
    assert not _overlaps(_incident("2026-07-20T03:00:00", "2026-07-20T05:00:00"), TRUTH, SHANGHAI)
    assert not _overlaps(_incident("2026-07-25T11:00:00", "2026-07-25T13:00:00"), TRUTH, SHANGHAI)
