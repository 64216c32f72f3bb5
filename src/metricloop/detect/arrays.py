"""Causal array helpers on ``(n_series, n_points)`` arrays: lags, fills, runs, EWMAs, new highs.

All helpers look backwards only, so detectors built on them never use future points.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

from metricloop.detect.types import BoolArray, FloatArray


def lag(x: FloatArray, k: int) -> FloatArray:
    """``x`` shifted ``k`` points to the right (value of ``k`` points ago); NaN where unknown."""
    out = np.full_like(x, np.nan)
    if k <= 0:
        return x.copy()
    if k < x.shape[1]:
        out[:, k:] = x[:, :-k]
    return out


def ffill(x: FloatArray) -> FloatArray:
    """Carry the last seen value forward over NaN (leading NaN stay NaN)."""
    n, t = x.shape
    idx = np.where(np.isnan(x), 0, np.arange(t))
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = x[np.arange(n)[:, None], idx]
    return out


def run_length(mask: BoolArray) -> np.ndarray:
    """Length of the run of True ending at each point (0 where False)."""
    m = mask.astype(np.int64)
    t = m.shape[1]
    pos = np.arange(1, t + 1)
    # index of the last False at or before each point
    last_false = np.where(m == 0, pos, 0)
    np.maximum.accumulate(last_false, axis=1, out=last_false)
    return np.asarray((pos - last_false) * m)


def ewma(x: FloatArray, alpha: float) -> FloatArray:
    """Exponentially weighted mean along time, started at the first value; NaN carried over.

    Bias-corrected so early points are the mean of what was seen, not pulled towards 0.
    """
    filled = np.nan_to_num(ffill(x), nan=0.0)
    seen = (~np.isnan(ffill(x))).astype(np.float64)
    b, a = [alpha], [1.0, alpha - 1.0]
    num = lfilter(b, a, filled, axis=1)
    den = lfilter(b, a, seen, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[seen == 0] = np.nan
    return np.asarray(out)


def nan_rolling(x: FloatArray, window: int, func: str, min_periods: int = 1) -> FloatArray:
    """Trailing rolling statistic per series: ``median``, ``mean``, ``std``, ``min``, ``max`` or
    ``quantile_NN`` (e.g. ``quantile_75``). pandas does the windowing in compiled code."""
    import pandas as pd

    roll = pd.DataFrame(x.T).rolling(window, min_periods=min_periods)
    if func.startswith("quantile_"):
        out = roll.quantile(int(func.split("_", 1)[1]) / 100.0)
    else:
        out = getattr(roll, func)()
    return np.asarray(out.to_numpy().T)


def beats_previous(x: FloatArray, k: int) -> FloatArray:
    """``x`` where it is larger than each of the ``k`` values before it (per row), else 0.

    One alert per burst: a score survives only as a new high of its recent past, so a wave of the
    same incident does not alert again point after point. ``k <= 1`` keeps everything.
    """
    if k <= 1:
        return x
    prev = maximum_filter1d(x, size=k, axis=1, origin=(k - 1) // 2, mode="constant", cval=-np.inf)
    before = np.full_like(x, -np.inf)
    before[:, 1:] = prev[:, :-1]
    return np.where(x > before, x, 0.0)
