"""Robust seasonal baseline: compare with the same hour-of-week / day-of-week in past seasons.

Expected = median of the last ``lookback`` values at the same seasonal position; scale = their
MAD (×1.4826, a standard deviation for normal data). Median and MAD ignore a minority of odd
seasons, and known anomalies (``SeriesBatch.known_anomalies``) are removed from the history
first, so last week's incident does not become this week's "normal".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import lag, nan_rolling
from metricloop.detect.base import Detector, DetectorParams, band_detection, robust_floor
from metricloop.detect.registry import register
from metricloop.detect.types import SEASON, Detection, FloatArray, SeriesBatch
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


_SMALL = {2: 1.72, 3: 2.25, 4: 1.69, 5: 1.52}


def small_sample_factor(n: np.ndarray) -> np.ndarray:
    """Inflate a MAD-of-n scale so "3 scales" means 3 sigmas of the error against the median.

    With few seasons both the median (the expectation) and the MAD are noisy, and the MAD is
    biased low. Factors measured by simulation on normal data (std of the next point's error
    against the median of n, divided by the typical MAD·1.4826); (1 + 1.3/n)·sqrt(1 + π/2n)
    fits them within 3 % from n = 6 on.
    """
    nf = np.maximum(n, 1).astype(np.float64)
    out = (1 + 1.3 / nf) * np.sqrt(1 + np.pi / (2 * nf))
    for k, v in _SMALL.items():
        out[n == k] = v
    return out


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
        med, mad, cnt = seasonal_baseline(batch.baseline_values(), period, params.lookback)
        med[cnt < params.min_history] = np.nan
        # A MAD of a handful of values is noisy and often far too small; pool it with the
        # median MAD of the last season's positions (still only past data) for a stable scale.
        pooled = nan_rolling(mad, period, "median", min_periods=1)
        scale = np.fmax(mad, pooled) * small_sample_factor(cnt)
        scale = robust_floor(med, scale, params.scale_floor)
        return band_detection(self.name, batch, med, scale, params)
