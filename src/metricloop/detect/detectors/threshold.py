"""Static multi-level thresholds: "warn above 100, critical above 120; warn below 10"."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, SeriesBatch, Severity
from metricloop.i18n import Text


class ThresholdParams(DetectorParams):
    upper_warning: float | None = Field(None, description="Warn when the value is above this.")
    upper_critical: float | None = Field(None, description="Critical when the value is above this.")
    lower_warning: float | None = Field(None, description="Warn when the value is below this.")
    lower_critical: float | None = Field(None, description="Critical when the value is below this.")
    # the relative levels of the base class are not used by this detector
    warning: float = Field(1.0, gt=0, description="Unused: static thresholds carry their own levels.")
    critical: float | None = Field(2.0, gt=0, description="Score of a critical point (fixed at 2).")

    @model_validator(mode="after")
    def _some_limit(self) -> ThresholdParams:
        limits = (self.upper_warning, self.upper_critical, self.lower_warning, self.lower_critical)
        if all(v is None for v in limits):
            raise ValueError("give at least one of upper_warning, upper_critical, lower_warning, lower_critical")
        return self


TEMPLATES = (
    Text(en="{value} is above the limit {upper}", zh="{value} 超过上限 {upper}"),
    Text(en="{value} is below the limit {lower}", zh="{value} 低于下限 {lower}"),
)


@register
class ThresholdDetector(Detector):
    """Fixed limits. Score: 0 inside, 1 at the warning limit, 2 at the critical limit."""

    name = "threshold"
    Params = ThresholdParams
    title = Text(en="static thresholds", zh="静态阈值")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, ThresholdParams)
        x = batch.values
        s = params.sensitivity
        n = np.zeros_like(x)
        score_up, score_dn = n.copy(), n.copy()
        up_w, up_c = params.upper_warning, params.upper_critical
        lo_w, lo_c = params.lower_warning, params.lower_critical
        if params.direction is not Direction.DOWN and (up_w is not None or up_c is not None):
            score_up = _score(x, up_w, up_c, s, +1)
        if params.direction is not Direction.UP and (lo_w is not None or lo_c is not None):
            score_dn = _score(x, lo_w, lo_c, s, -1)
        score = np.nan_to_num(np.maximum(score_up, score_dn), nan=0.0)
        sev = severity_from_score(score, 1.0, 2.0)
        sev[(score > 0) & (score < 1)] = Severity.NONE
        upper = np.full_like(x, _first(up_w, up_c))
        lower = np.full_like(x, _first(lo_w, lo_c))
        return Detection(
            detector=self.name,
            values=x,
            expected=np.full_like(x, np.nan),
            lower=lower,
            upper=upper,
            score=score,
            severity=sev,
            templates=TEMPLATES,
            kind=np.where(score_up >= score_dn, 0, 1).astype(np.int8),
        )


def _first(a: float | None, b: float | None) -> float:
    v = a if a is not None else b
    return float("nan") if v is None else float(v)


def _score(x: np.ndarray, warn: float | None, crit: float | None, sens: float, sign: int) -> np.ndarray:
    """0 inside, 1 at the warning limit, 2 at the critical limit, linear between and beyond.

    ``sensitivity`` > 1 pushes the limits outwards proportionally to their magnitude.
    """
    def widen(v: float) -> float:
        return v + sign * (sens - 1.0) * abs(v)

    w = None if warn is None else widen(warn)
    c = None if crit is None else widen(crit)
    with np.errstate(invalid="ignore"):
        if w is not None and c is not None and c != w:
            gap = abs(c - w)
            s = 1.0 + sign * (x - w) / gap
            return np.where(sign * (x - w) >= 0, s, 0.0)
        limit = w if w is not None else c
        assert limit is not None
        base = 1.0 if w is not None else 2.0
        unit = max(abs(limit), 1e-12)
        return np.where(sign * (x - limit) >= 0, base + sign * (x - limit) / unit, 0.0)
