"""Monitors as the doors preview them: the default backtest window (the API's ``POST
/monitors/backtest`` and the UI's monitor editor use the same one)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from metricloop.catalog.models import Grain
from metricloop.detect.monitor import MonitorSpec

if TYPE_CHECKING:
    from metricloop.service import MetricLoop


def default_window(ml: MetricLoop, spec: MonitorSpec) -> tuple[dt.date, dt.date]:
    """The last 90 days (14 for hourly and finer monitors) of the data the monitor reads."""
    fresh = ml.detection.freshness(spec)
    if fresh is None:
        end = dt.datetime.now(ml.project.tz).date()
    else:
        end = (fresh.astimezone(ml.project.tz) if fresh.tzinfo else fresh).date()
    days = 14 if spec.grain in (Grain.minute, Grain.hour) else 90
    return end - dt.timedelta(days=days - 1), end
