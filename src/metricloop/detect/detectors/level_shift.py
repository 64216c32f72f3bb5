"""Level shift (change point): the recent median moved away from the median before it.

Catches a metric that steps to a new level and stays there, which point detectors flag only
once (or never, when each single point looks plausible).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import lag, nan_rolling
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, SeriesBatch
from metricloop.i18n import Text


class LevelShiftParams(DetectorParams):
    window: int = Field(5, ge=1, description="Recent points whose median is compared (the new level).")
    reference: int = Field(20, ge=3, description="Points before the recent window forming the old level.")
    warning: float = Field(3.0, gt=0, description="Shift, in robust sigmas of the old level, that warns.")
    critical: float | None = Field(6.0, gt=0, description="Shift in robust sigmas that is critical.")
    scale_floor: float = Field(0.01, ge=0, description="Minimum sigma as a fraction of the old level.")


TEMPLATES = (
    Text(
        en="level shift up: the last {window} points are around {recent}, against {expected} before ({shift_pct})",
        zh="水平上移：最近 {window} 个点约为 {recent}，此前约为 {expected}（{shift_pct}）",
    ),
    Text(
        en="level shift down: the last {window} points are around {recent}, against {expected} before ({shift_pct})",
        zh="水平下移：最近 {window} 个点约为 {recent}，此前约为 {expected}（{shift_pct}）",
    ),
)


@register
class LevelShiftDetector(Detector):
    """Score = |recent median − reference median| / (warning × reference robust sigma)."""

    name = "level_shift"
    Params = LevelShiftParams
    title = Text(en="level shift", zh="水平突变")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, LevelShiftParams)
        x = batch.values
        hist = batch.baseline_values()
        w, ref_n = params.window, params.reference
        recent = nan_rolling(x, w, "median", min_periods=max(1, w // 2 + 1))
        ref_src = lag(hist, w)
        ref = nan_rolling(ref_src, ref_n, "median", min_periods=max(3, ref_n // 2))
        q75 = nan_rolling(ref_src, ref_n, "quantile_75", min_periods=max(3, ref_n // 2))
        q25 = nan_rolling(ref_src, ref_n, "quantile_25", min_periods=max(3, ref_n // 2))
        sigma = np.maximum((q75 - q25) / 1.349, params.scale_floor * np.abs(ref))
        sigma = np.maximum(sigma, 1e-12)
        half = params.warning * params.sensitivity * sigma
        shift = recent - ref
        with np.errstate(invalid="ignore"):
            score = np.abs(shift) / half
        if params.direction is Direction.UP:
            score = np.where(shift > 0, score, 0.0)
        elif params.direction is Direction.DOWN:
            score = np.where(shift < 0, score, 0.0)
        score = np.nan_to_num(score, nan=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(ref != 0, 100.0 * shift / np.abs(ref), np.nan)
        return Detection(
            detector=self.name,
            values=x,
            expected=ref,
            lower=ref - half,
            upper=ref + half,
            score=score,
            severity=severity_from_score(score, params.warning, params.critical),
            templates=tuple(t.format(window=str(w), recent="{recent}", expected="{expected}",
                                     shift_pct="{shift_pct}%") for t in TEMPLATES),
            kind=np.where(shift >= 0, 0, 1).astype(np.int8),
            extra={"recent": recent, "shift_pct": pct},
        )
