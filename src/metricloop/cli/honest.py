"""What the CLI adds so its output is honest: stale-data warnings and values in the metric's format."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from metricloop.cli.render import err_console
from metricloop.i18n import normalize_locale

if TYPE_CHECKING:
    from metricloop.detect.staleness import Staleness
    from metricloop.service import MetricLoop


def _locale(ml: MetricLoop) -> str:
    return normalize_locale(os.environ.get("METRICLOOP_LOCALE") or ml.project.config.locale)


def print_stale(ml: MetricLoop, at: dt.datetime | None, monitor: str | None = None) -> list[Staleness]:
    """Warn (stderr) about every monitor whose data is older than what it should judge at ``at``."""
    from metricloop.detect.staleness import stale_monitors

    found = [s for s in stale_monitors(ml.detection, at) if monitor is None or s.monitor == monitor]
    loc = _locale(ml)
    for s in found:
        err_console.print(f"[yellow]{'数据陈旧' if loc == 'zh-CN' else 'stale data'}:[/] {s.render(loc)}",
                          highlight=False, markup=True)
    return found


def metric_values(ml: MetricLoop, metric: str, row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``row`` with ``keys`` (actual, expected, impact ...) in the metric's format and unit."""
    from metricloop.catalog.display import format_value

    try:
        m = ml.catalog.metric(metric)
    except Exception:  # a metric removed since: plain numbers
        m = None
    return {**row, **{k: format_value(m, row[k]) for k in keys if k in row and row[k] is not None}}
