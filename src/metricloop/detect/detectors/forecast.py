"""Forecast band: robust Holt-Winters (additive level, damped trend, season), all series at once.

One-step-ahead forecasts with fixed smoothing constants: no per-series fitting, so 10,000
series cost one pass over time with numpy operations across series. Robust: each residual is
clipped at ``clip`` scales before it updates the state, so an outage does not drag the baseline
down with it. The scale is an exponentially weighted mean absolute residual (×1.25 ≈ sigma).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from metricloop.detect.base import Detector, DetectorParams, band_detection, robust_floor
from metricloop.detect.registry import register
from metricloop.detect.types import SEASON, Detection, FloatArray, SeriesBatch
from metricloop.i18n import Text


class ForecastParams(DetectorParams):
    season: int | Literal["auto", "none"] = Field(
        "auto", description="Season length in points; auto from the grain; none for no season."
    )
    alpha: float = Field(0.2, gt=0, le=1, description="Level smoothing (higher adapts faster).")
    beta: float = Field(0.02, ge=0, le=1, description="Trend smoothing (0 = no trend).")
    phi: float = Field(0.9, gt=0, le=1, description="Trend damping per step.")
    gamma: float = Field(0.1, ge=0, le=1, description="Season smoothing.")
    scale_alpha: float = Field(0.05, gt=0, le=1, description="Smoothing of the residual scale.")
    clip: float = Field(3.0, gt=0, description="Residuals beyond clip × scale update the state clipped.")
    scale_floor: float = Field(0.01, ge=0, description="Minimum scale as a fraction of the forecast.")


def holt_winters(
    x: FloatArray, period: int, p: ForecastParams
) -> tuple[FloatArray, FloatArray]:
    """One-step-ahead forecasts and scales, NaN during the warm-up (two seasons)."""
    n, t = x.shape
    rows = np.arange(n)
    m = max(1, period)
    warm = min(t, 2 * m if m > 1 else 10)
    exp = np.full((n, t), np.nan)
    scl = np.full((n, t), np.nan)
    if t == 0:
        return exp, scl
    first = x[:, : min(m, t)] if m > 1 else x[:, : min(10, t)]
    with np.errstate(all="ignore"):
        level = np.nanmean(first, axis=1)
    level = np.nan_to_num(level)
    season = np.zeros((n, m))
    if m > 1:
        season[:, : first.shape[1]] = np.nan_to_num(first - level[:, None])
    trend = np.zeros(n)
    scale = np.full(n, np.nan)
    start = first.shape[1]
    for i in range(start, t):
        j = i % m
        s = season[:, j]
        pred = level + p.phi * trend + s
        v = x[:, i]
        ok = ~np.isnan(v)
        if i >= warm:
            exp[:, i] = pred
            scl[:, i] = 1.25 * scale
        res = np.where(ok, v - pred, 0.0)
        lim = np.where(np.isnan(scale), np.inf, p.clip * 1.25 * scale)
        rc = np.clip(res, -lim, lim)
        new_level = level + p.phi * trend + p.alpha * rc
        trend = np.where(ok, p.phi * trend + p.beta * (new_level - level - p.phi * trend), trend)
        if m > 1:
            season[rows, j] = np.where(ok, s + p.gamma * (1 - p.alpha) * rc, s)
        level = np.where(ok, new_level, level + p.phi * trend)
        a = np.abs(rc)
        scale = np.where(ok, np.where(np.isnan(scale), a, scale + p.scale_alpha * (a - scale)), scale)
    return exp, scl


@register
class ForecastDetector(Detector):
    """Band = one-step forecast ± warning × scale. Score unit: scales / warning."""

    name = "forecast"
    Params = ForecastParams
    title = Text(en="forecast band", zh="预测区间")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, ForecastParams)
        if params.season == "none":
            period = 1
        elif params.season == "auto":
            period = SEASON[batch.grain]
        else:
            period = int(params.season)
        if batch.n_points < 3 * period:  # not enough seasons to learn one
            period = 1
        exp, scl = holt_winters(batch.baseline_values(), period, params)
        return band_detection(self.name, batch, exp, robust_floor(exp, scl, params.scale_floor), params)
