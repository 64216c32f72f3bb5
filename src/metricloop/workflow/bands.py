"""Normal ranges as people see them: a rate's band stays within 0–100 %.

A detector's band is ``expected ± k·scale``; near the edge of a rate (a 99.2 % success rate)
that arithmetic reaches past 100 % or below 0, which no rate can be. Every door that shows a
band — the incident's alerts, the alerts inbox, the API, backtest charts — clamps it here to the
values the metric can take, so the reader never sees "normal range 97.1 % – 101.3 %".
Which metrics are rates lives in :mod:`metricloop.catalog.bounds` (detection clamps there too);
a rate's values are fractions (0.953 = 95.3 %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from metricloop.catalog.bounds import Bounds, bounds_of

if TYPE_CHECKING:
    from metricloop.catalog.catalog import Catalog


class HasCatalog(Protocol):
    """Anything that hands out the project's catalog: the stages' Context, or the facade."""

    @property
    def catalog(self) -> Catalog: ...

BAND_KEYS = ("expected", "lower", "upper")


def metric_bounds(source: HasCatalog, name: str) -> Bounds | None:
    """:func:`bounds_of` by metric name (None when the catalog does not load or lacks it)."""
    try:
        return bounds_of(source.catalog.metrics.get(name))
    except Exception:  # a project whose catalog does not load still shows its records
        return None


def clamp(value: float | None, bounds: Bounds | None) -> float | None:
    if value is None or bounds is None or (isinstance(value, float) and math.isnan(value)):
        return value
    return min(max(value, bounds[0]), bounds[1])


def clamp_series(values: Sequence[float | None], bounds: Bounds | None) -> list[float | None]:
    return [clamp(v, bounds) for v in values]


def bounded(record: Mapping[str, Any], bounds: Bounds | None, keys: Sequence[str] = BAND_KEYS) -> dict[str, Any]:
    """A copy of ``record`` (an alert, an anomaly, a chart series) with its band clamped; lists of
    values (a series) are clamped point by point. The actual value is never touched."""
    out = dict(record)
    if bounds is None:
        return out
    for k in keys:
        v = out.get(k)
        if isinstance(v, list):
            out[k] = clamp_series(v, bounds)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = clamp(float(v), bounds)
    return out


def bounded_backtest(result: Mapping[str, Any], bounds: Bounds | None) -> dict[str, Any]:
    """A backtest (``ml.detection.backtest``) whose series and anomalies show clamped bands."""
    out = dict(result)
    if bounds is None:
        return out
    out["series"] = [bounded(s, bounds) for s in result.get("series") or []]
    out["anomalies"] = [bounded(a, bounds) if isinstance(a, Mapping) else a for a in result.get("anomalies") or []]
    return out
