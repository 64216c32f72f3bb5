"""A metric's value as its owner reads it: its ``format`` spec, its ``unit`` (¥, %, counts).

One function for every door (CLI tables, messages, the UI), so a count never prints as
``259224.0`` in one place and ``259,224`` in another.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI's fast query door formats cells without loading the catalog's models
    from metricloop.catalog.models import Metric

CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


def format_value(metric: Metric | None, value: Any) -> str:
    """A value as the metric's owner wants to read it (its format spec, currency and unit)."""
    return format_number(value, metric.format if metric else None, metric.unit if metric else None)


def format_number(value: Any, spec: str | None, unit: str | None) -> str:
    """:func:`format_value` from a metric's ``format`` and ``unit`` alone."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if not isinstance(value, int | float):
        try:
            value = float(value)  # Decimal sums from a warehouse
        except (TypeError, ValueError):
            return str(value)
    spec = spec or None
    if spec is None:
        if unit == "percent":
            spec = ".2%"
        elif unit == "count" or isinstance(value, int) or abs(value) >= 1000 or float(value).is_integer():
            spec = ",.0f"
        else:
            spec = ",.2f"
    negative = value < 0
    try:
        text = format(abs(value) if negative else value, spec)
    except (TypeError, ValueError):
        return str(value)
    if unit and unit.startswith("currency:"):
        text = CURRENCY_SIGNS.get(unit.split(":", 1)[1], "") + text
    return "-" + text if negative else text
