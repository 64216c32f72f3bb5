"""From query rows to a dense batch: periods, pivoting, slice selection, data completeness.

Pure helpers for the detection service. Detectors assume one regular time axis shared by every
series, so rows (slice, period, value) become a ``(n_series, n_points)`` array with a value for
every period; a period with no row is 0 for metrics that count or sum (no orders is zero
orders, and a slice that stops selling must be seen dropping to 0) and NaN (unknown) for rates
and averages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metricloop.catalog.models import Grain

_FREQ = {Grain.minute: "min", Grain.hour: "h", Grain.day: "D", Grain.week: "W-MON", Grain.month: "MS"}


def floor_period(t: dt.datetime, grain: Grain) -> dt.datetime:
    """Start of the period that contains ``t`` (weeks start on Monday)."""
    ts = pd.Timestamp(t)
    if grain is Grain.week:
        out = ts.normalize() - pd.Timedelta(days=ts.weekday())
    elif grain is Grain.month:
        out = ts.normalize().replace(day=1)
    else:
        out = ts.floor(_FREQ[grain])
    result: dt.datetime = out.to_pydatetime()
    return result


def shift_period(t: dt.datetime, grain: Grain, n: int) -> dt.datetime:
    """The period start ``n`` periods after (or before, n < 0) the period starting at ``t``."""
    ts = pd.Timestamp(floor_period(t, grain))
    if grain is Grain.month:
        out = ts + pd.DateOffset(months=n)
    elif grain is Grain.week:
        out = ts + pd.Timedelta(weeks=n)
    else:
        out = ts + n * pd.Timedelta(1, unit=_FREQ[grain])
    result: dt.datetime = pd.Timestamp(out).to_pydatetime()
    return result


def period_axis(first: dt.datetime, last: dt.datetime, grain: Grain) -> NDArray[np.datetime64]:
    """Every period start from ``first`` to ``last`` inclusive, as ``datetime64[ns]``."""
    if last < first:
        return np.array([], dtype="datetime64[ns]")
    idx = pd.date_range(floor_period(first, grain), floor_period(last, grain), freq=_FREQ[grain])
    return np.asarray(idx.values, dtype="datetime64[ns]")


def last_complete_period(ready_until: dt.datetime, grain: Grain) -> dt.datetime:
    """The latest period that has fully ended by ``ready_until``."""
    p = floor_period(ready_until, grain)
    return shift_period(p, grain, -1) if shift_period(p, grain, 1) > ready_until else p


def loaded_until(freshness: dt.datetime, grain: Grain) -> dt.datetime:
    """How far ingest freshness vouches for the data at this grain.

    Freshness is the newest event time loaded. Event times are discrete, so the last period is
    accepted once the newest event lies within 1/60 of a period of its end (a minute for hours,
    24 minutes for days): at most ~2 % of the period can still be missing. Tables that store
    period starts (an ``hour`` column) therefore wait for the next period to land, which is the
    safe side. Data that arrives later than that is what the monitor's ``delay`` is for.
    """
    p = floor_period(freshness, grain)
    end = shift_period(p, grain, 1)
    grace = (end - p) / 60
    return end if end - freshness <= grace else p


def slice_label(keys: Mapping[str, Any]) -> str:
    """Canonical text of a slice: ``channel=app,region=华东`` (sorted by dimension); '' for the total."""
    return ",".join(f"{k}={v}" for k, v in sorted(keys.items()))


@dataclass
class Pivot:
    """Dense series of the slices, their volumes and keys."""

    values: NDArray[np.float64]
    volume: NDArray[np.float64]
    keys: list[dict[str, str]]


def pivot(
    frame: pd.DataFrame,
    *,
    axis: NDArray[np.datetime64],
    time_col: str,
    dims: Sequence[str],
    value_col: str,
    volume_col: str | None = None,
    fill_zero: bool = False,
    data_start: np.datetime64 | None = None,
    data_end: np.datetime64 | None = None,
) -> Pivot:
    """Pivot a frame with columns ``dims..., time_col, value_col[, volume_col]`` onto ``axis``.

    Periods without a row get 0 when ``fill_zero`` (between ``data_start`` and ``data_end``:
    before the data begins nothing is known), else NaN. The volume of a slice is the sum of
    ``volume_col`` (or of |value|) over the axis: what top-N ranks by.
    """
    axis = np.asarray(axis, dtype="datetime64[ns]")
    n_t = len(axis)
    if len(frame) and dims:
        cols = [frame[d].astype(object).where(frame[d].notna(), "").astype(str) for d in dims]
        codes, uniques = pd.factorize(pd.Series(list(zip(*cols, strict=True)), dtype=object))
        keys = [dict(zip(dims, u, strict=True)) for u in uniques]
    else:
        codes = np.zeros(len(frame), dtype=np.intp)
        keys = [{}] if len(frame) or not dims else []
    n = len(keys)
    values = np.full((n, n_t), np.nan)
    volume = np.zeros(n)
    if fill_zero and n:
        upto = n_t if data_end is None else int(np.searchsorted(axis, data_end, side="right"))
        since = 0 if data_start is None else int(np.searchsorted(axis, data_start, side="left"))
        values[:, since:upto] = 0.0
    if not len(frame) or not n_t:
        return Pivot(values, volume, keys)
    t = pd.to_datetime(frame[time_col]).to_numpy(dtype="datetime64[ns]")
    j = np.searchsorted(axis, t)
    ok = (j < n_t) & (axis[np.minimum(j, n_t - 1)] == t)
    v = pd.to_numeric(frame[value_col].astype(float), errors="coerce").to_numpy(dtype=np.float64)
    vol_src = frame[volume_col] if volume_col else frame[value_col]
    vol = np.abs(pd.to_numeric(vol_src.astype(float), errors="coerce").to_numpy(dtype=np.float64))
    values[codes[ok], j[ok]] = v[ok]
    volume = np.bincount(codes[ok], weights=np.nan_to_num(vol[ok]), minlength=n).astype(np.float64)
    return Pivot(values, volume, keys)


def select_slices(volume: NDArray[np.float64], top_n: int | None, min_volume: float | None) -> NDArray[np.intp]:
    """Rows to keep: volume at least ``min_volume``, then the ``top_n`` largest (largest first)."""
    order = np.argsort(-volume, kind="stable")
    if min_volume is not None:
        order = order[volume[order] >= min_volume]
    if top_n is not None:
        order = order[:top_n]
    return np.asarray(order, dtype=np.intp)
