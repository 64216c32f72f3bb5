"""Robust seasonal baseline: compare with the same hour-of-week / day-of-week in past seasons.

Expected = median of the last ``lookback`` values at the same seasonal position (known anomalies
and muted holidays, ``SeriesBatch.known_anomalies``, removed first, so last week's incident does
not become this week's "normal"). Median and MAD ignore a minority of odd seasons.

Scale: a band is only as good as its scale, and a slot often has few values (warm-up, or weeks
masked for a festival or holiday: 3-4 Tuesdays left after 618). A MAD of 3-4 values is biased low
and far too variable: on normal data ``|next − median| > 4·1.4826·MAD`` happens 24 % of the time
at n = 3 and 11 % at n = 4 (3 % at n = 8), not 0.006 %; unbiasing the MAD still leaves 14 % and
6 %. Only more data fixes that tail, so the slot's scale is floored by a pooled one. Per point
with n values:

* slot sigma = ``c_n`` · 1.4826 · MAD: ``c_n`` makes the MAD of n values unbiased (the
  finite-sample bias correction of the MAD, cf. Hayes 2014: 1.49 at n = 3, 1.13 at n = 8);
* pooled sigma = 1.4826 · median of the baseline's own last errors ``|x − expected|`` (as many
  as a ``lookback`` of seasons holds, masked points skipped), at the same time of day for
  hourly/minute weekly seasons (nights are quieter than days), each divided by
  ``sqrt(1 + v_n)`` of its point. Dozens of out-of-sample errors, not a handful of values, and
  they include what the slot spread misses (drift of the level since the baseline weeks).
  Until one season of errors exists: the median over the last season's positions of
  ``m_n`` · 1.4826 · MAD (``m_n`` makes a median of such MADs unbiased);
* scale = max(slot, pooled) · ``sqrt(1 + v_n)``, where ``v_n`` = Var(median of n)/sigma^2 (0.45 at
  n = 3, 0.17 at n = 8): the expectation is itself a median of n noisy values, so the next
  point's error is wider than sigma. The max lets a genuinely noisier slot (a festival eve) keep
  its wider band while no slot gets narrower than the errors the baseline really makes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from metricloop.catalog.models import Grain
from metricloop.detect.arrays import ffill, lag, nan_rolling
from metricloop.detect.base import Detector, DetectorParams, band_detection, robust_floor
from metricloop.detect.registry import register
from metricloop.detect.types import SEASON, Detection, FloatArray, SeriesBatch, lag_points
from metricloop.i18n import Text

_CHUNK_CELLS = 4_000_000  # cells per stacked block: bounds memory on wide batches


class SeasonalParams(DetectorParams):
    season: int | Literal["auto"] = Field(
        "auto",
        description="Season length in points; auto = hour-of-week (hour grain), day-of-week (day), "
        "week-of-year (week), month-of-year (month).",
    )
    lookback: int = Field(8, ge=2, le=52, description="How many past seasons form the baseline.")
    min_history: int = Field(3, ge=1, description="Seasons with data needed before judging a point.")
    scale_floor: float = Field(
        0.01, ge=0, description="Minimum scale as a fraction of the expected value (flat histories)."
    )


def nanmedian0(stack: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Median over axis 0 ignoring NaN, and the count of non-NaN values (fast for small axis 0)."""
    srt = np.sort(stack, axis=0)  # NaN sort last
    cnt = (~np.isnan(stack)).sum(axis=0)
    lo = np.clip((cnt - 1) // 2, 0, None)[None]
    hi = np.clip(cnt // 2, 0, stack.shape[0] - 1)[None]
    med = 0.5 * (np.take_along_axis(srt, lo, 0)[0] + np.take_along_axis(srt, hi, 0)[0])
    med[cnt == 0] = np.nan
    return med, cnt


# (c_n, m_n, v_n) for n = 0..9 normal values: c_n·1.4826·MAD has mean sigma, m_n·1.4826·MAD has
# median sigma, v_n = Var(median)/sigma^2. Simulated (3·10^6 draws each; the median of an even n
# is the mean of the middle two, as in ``nanmedian0``); c_n agrees with published tables to 0.002.
# From n = 10 on, n/(n-0.8), n/(n-1.2) and pi/(2n) are within 1 %. Row 0 is unused (no value, no
# expectation); with one value the MAD is 0 and the next error is a difference of two: v = 1.
_FINITE = np.array([
    (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (1.195, 1.413, 0.500), (1.487, 1.869, 0.449),
    (1.360, 1.488, 0.298), (1.217, 1.340, 0.287), (1.190, 1.263, 0.215), (1.137, 1.208, 0.210),
    (1.128, 1.179, 0.168), (1.101, 1.150, 0.166),
])


def finite_sample(n: np.ndarray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(c_n, m_n, v_n)`` per element of the count array ``n`` (see the module docstring)."""
    nf = np.maximum(n, len(_FINITE)).astype(np.float64)
    idx = np.minimum(n, len(_FINITE) - 1)
    big = n >= len(_FINITE)
    c = np.where(big, nf / (nf - 0.8), _FINITE[:, 0][idx])
    m = np.where(big, nf / (nf - 1.2), _FINITE[:, 1][idx])
    v = np.where(big, np.pi / (2 * nf), _FINITE[:, 2][idx])
    return c, m, v


def recent_median(x: FloatArray, stride: int, count: int, min_count: int) -> FloatArray:
    """Median of the last ``count`` known (non-NaN) values among ``t, t − stride, t − 2·stride, …``;
    NaN until ``min_count`` are known. Counted in values, not time, so a long masked stretch
    (a festival) does not leave the median with a handful of values."""
    n, t = x.shape
    q = -(-t // stride)
    pad = np.full((n, q * stride), np.nan)
    pad[:, :t] = x
    phases = pad.reshape(n, q, stride).transpose(0, 2, 1).reshape(n * stride, q)  # a row per phase
    rows, cols = np.nonzero(np.isfinite(phases))  # row-major: each row's values in time order
    out = np.full(phases.shape, np.nan)
    if len(rows):
        med = pd.Series(phases[rows, cols]).groupby(rows, sort=False).rolling(count, min_periods=min_count)
        out[rows, cols] = med.median().to_numpy()
    out = ffill(out)  # positions without a value of their own keep the last median
    return out.reshape(n, stride, q).transpose(0, 2, 1).reshape(n, q * stride)[:, :t]


def pool_stride(grain: Grain, period: int) -> int:
    """Points per day when the season spans whole days (hour-of-week: 24), else 1: errors are
    pooled at the same time of day, since a night's noise is not a peak hour's."""
    per_day = lag_points(grain, "day") if grain in (Grain.minute, Grain.hour) else 1
    return per_day if period > per_day and period % per_day == 0 else 1


def seasonal_baseline(
    history: FloatArray, period: int, lookback: int
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """(median, MAD·1.4826, count) of the values ``k·period`` points back, k = 1..lookback."""
    n, t = history.shape
    med = np.full((n, t), np.nan)
    mad = np.full((n, t), np.nan)
    cnt = np.zeros((n, t), dtype=np.int64)
    rows = max(1, _CHUNK_CELLS // max(1, t * lookback))
    for r0 in range(0, n, rows):
        block = history[r0 : r0 + rows]
        stack = np.stack([lag(block, k * period) for k in range(1, lookback + 1)])
        m, c = nanmedian0(stack)
        d, _ = nanmedian0(np.abs(stack - m[None]))
        med[r0 : r0 + rows], mad[r0 : r0 + rows], cnt[r0 : r0 + rows] = m, 1.4826 * d, c
    return med, mad, cnt


@register
class SeasonalDetector(Detector):
    """Band = seasonal median ± warning × robust sigma. Score unit: robust sigmas / warning."""

    name = "seasonal"
    Params = SeasonalParams
    title = Text(en="seasonal baseline", zh="同期基线")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, SeasonalParams)
        period = SEASON[batch.grain] if params.season == "auto" else int(params.season)
        base = batch.baseline_values()
        med, mad, cnt = seasonal_baseline(base, period, params.lookback)
        med[cnt < params.min_history] = np.nan
        c, m, v = finite_sample(cnt)
        inflate = np.sqrt(1 + v)
        stride = pool_stride(batch.grain, period)
        with np.errstate(invalid="ignore"):
            errors = np.abs(base - med) / inflate  # NaN where masked or not judged
        pooled = 1.4826 * recent_median(lag(errors, stride), stride, params.lookback * period // stride,
                                        min_count=period // stride)
        early = np.isnan(pooled) & np.isfinite(med)  # judged before a season of errors exists
        if early.any():
            cut = int(np.nonzero(early.any(axis=0))[0][-1]) + 1  # trailing statistic: a prefix suffices
            pooled[:, :cut] = np.where(early[:, :cut], nan_rolling(m[:, :cut] * mad[:, :cut], period, "median",
                                                                   min_periods=1), pooled[:, :cut])
        scale = np.fmax(c * mad, pooled) * inflate
        scale = robust_floor(med, scale, params.scale_floor)
        return band_detection(self.name, batch, med, scale, params)
