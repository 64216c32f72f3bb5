"""The values a metric can take, as its catalog entry says: a rate stays within 0–1.

Detection clamps the bands (and the reasons that quote them) to these bounds, and every door
that shows a band clamps older records the same way (:mod:`metricloop.workflow.bands`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metricloop.catalog.models import Metric

Bounds = tuple[float, float]
RATE: Bounds = (0.0, 1.0)


def is_rate(metric: Metric) -> bool:
    """A share of a whole (success rate, refund rate, conversion): unit ``percent`` and not a
    change — a signed format (``+.1%``) or a formula over an earlier period (week over week)
    marks a change, which can be negative or above 100 %."""
    if metric.unit != "percent" or (metric.format or "").startswith("+"):
        return False
    return not any(i.offset_window or i.offset_to_grain for i in metric.input_metrics or [])


def bounds_of(metric: Metric | None) -> Bounds | None:
    """The values ``metric`` can take, when the catalog says (a rate: 0–1); None otherwise."""
    return RATE if metric is not None and is_rate(metric) else None
