"""Sustained trend: N consecutive declines (or rises) adding up to a meaningful change.

A slow bleed (-2 % a day for a week) never crosses a band, yet it is what owners most regret
missing. Levels are run lengths: warning at ``warning`` consecutive moves, critical at ``critical``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import lag, run_length
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, SeriesBatch
from metricloop.i18n import Text


class TrendParams(DetectorParams):
    warning: float = Field(5, ge=2, description="Consecutive declines/rises that warn.")
    critical: float | None = Field(8, ge=2, description="Consecutive declines/rises that are critical.")
    min_total_change: float = Field(
        0.05, ge=0, description="Minimum relative change over the run (0.05 = 5 %) to count."
    )


TEMPLATES = (
    Text(en="risen {run} periods in a row, {pct} since {expected}",
         zh="连续 {run} 个周期上升，较 {expected} 变化 {pct}"),
    Text(en="fallen {run} periods in a row, {pct} since {expected}",
         zh="连续 {run} 个周期下降，较 {expected} 变化 {pct}"),
)


@register
class TrendDetector(Detector):
    """Score = run length / warning run length (0 when the total change is too small)."""

    name = "trend"
    Params = TrendParams
    title = Text(en="sustained trend", zh="持续趋势")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, TrendParams)
        x = batch.values
        d = x - lag(x, 1)
        up = run_length(d > 0)
        down = run_length(d < 0)
        if params.direction is Direction.UP:
            down[:] = 0
        elif params.direction is Direction.DOWN:
            up[:] = 0
        run = np.maximum(up, down)
        rising = up >= down
        rows = np.arange(x.shape[0])[:, None]
        cols = np.arange(x.shape[1])[None, :] - run
        start = np.where(run > 0, x[rows, np.clip(cols, 0, None)], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.abs(x - start) / np.abs(start)
        big = np.nan_to_num(total, nan=np.inf) >= params.min_total_change
        score = np.where(big, run / (params.warning * params.sensitivity), 0.0)
        return Detection(
            detector=self.name,
            values=x,
            expected=start,
            lower=np.full_like(x, np.nan),
            upper=np.full_like(x, np.nan),
            score=score,
            severity=severity_from_score(score, params.warning, params.critical),
            templates=TEMPLATES,
            kind=np.where(rising, 0, 1).astype(np.int8),
            extra={"run": run.astype(np.float64)},
        )
