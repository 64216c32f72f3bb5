"""What every detector shares: its parameter base model, its interface and the band arithmetic.

Most detectors estimate an ``expected`` value and a ``scale`` (a robust standard deviation) per
point; :func:`band_detection` turns those into a band, a direction-aware score, severities and
reason templates, so each detector file only contains its own statistics.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from metricloop.detect.types import (
    Detection,
    Direction,
    FloatArray,
    SeriesBatch,
    Severity,
)
from metricloop.i18n import Text


class DetectorParams(BaseModel):
    """Parameters every detector accepts. Subclasses add their own and may change defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction = Field(
        Direction.BOTH,
        description="Which deviations count: up (rises), down (drops) or both.",
    )
    warning: float = Field(3.0, gt=0, description="Deviation (in the detector's unit) that raises a warning.")
    critical: float | None = Field(
        5.0, gt=0, description="Deviation that makes the point critical; null for warning only."
    )
    sensitivity: float = Field(
        1.0,
        gt=0,
        description="Band multiplier: 1 = as configured, >1 wider band (fewer alerts). "
        "Feedback raises it when false alarms pile up.",
    )


class Detector(ABC):
    """A detector: one file in ``detect/detectors/``, registered with ``@register``.

    ``detect`` receives every series of a batch at once and returns one :class:`Detection`.
    It must be causal unless documented otherwise: a point's output uses data up to that point.
    """

    name: ClassVar[str]
    Params: ClassVar[type[DetectorParams]] = DetectorParams
    title: ClassVar[Text] = Text(en="detector", zh="检测器")

    @abstractmethod
    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection: ...


# Reason templates shared by band detectors: index = kind.
KIND_ABOVE, KIND_BELOW = 0, 1
BAND_TEMPLATES: tuple[Text, ...] = (
    Text(
        en="{value} is above the expected {expected} ({pct}); normal range {lower} to {upper}",
        zh="{value} 高于预期值 {expected}（{pct}），正常范围 {lower} 至 {upper}",
    ),
    Text(
        en="{value} is below the expected {expected} ({pct}); normal range {lower} to {upper}",
        zh="{value} 低于预期值 {expected}（{pct}），正常范围 {lower} 至 {upper}",
    ),
)


def severity_from_score(score: FloatArray, warning: float, critical: float | None) -> np.ndarray:
    """Severity per point from a score expressed relative to the warning level (1 = warning)."""
    sev = np.where(score >= 1.0, Severity.WARNING, Severity.NONE).astype(np.int8)
    if critical is not None:
        sev[score >= critical / warning] = Severity.CRITICAL
    return sev


def band_detection(
    name: str,
    batch: SeriesBatch,
    expected: FloatArray,
    scale: FloatArray,
    params: DetectorParams,
    templates: tuple[Text, ...] = BAND_TEMPLATES,
) -> Detection:
    """Band ``expected ± warning·sensitivity·scale``; score = |deviation| / half-width.

    Points with no expectation yet (NaN, e.g. warm-up) or no value get score 0 and no severity.
    Deviations against ``params.direction`` score 0: a drop never alerts an "up" monitor.
    """
    values = batch.values
    half = params.warning * params.sensitivity * scale
    dev = values - expected
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.abs(dev) / half
        score = np.where(half > 0, score, np.where(dev != 0, np.inf, 0.0))
    if params.direction is Direction.UP:
        score = np.where(dev > 0, score, 0.0)
    elif params.direction is Direction.DOWN:
        score = np.where(dev < 0, score, 0.0)
    score = np.where(np.isfinite(expected) & np.isfinite(values), score, 0.0)
    score = np.nan_to_num(score, nan=0.0, posinf=1e9)
    sev = severity_from_score(score, params.warning, params.critical)
    kind = np.where(dev >= 0, KIND_ABOVE, KIND_BELOW).astype(np.int8)
    return Detection(
        detector=name,
        values=values,
        expected=expected,
        lower=expected - half,
        upper=expected + half,
        score=score,
        severity=sev,
        templates=templates,
        kind=kind,
    )


def robust_floor(expected: FloatArray, scale: FloatArray, rel: float = 1e-3) -> FloatArray:
    """Keep scales from collapsing to 0 on flat series: at least ``rel`` of the expected level.

    Without it, a constant series would alert on its first change of one unit. Uses only the
    point's own expectation, so it stays causal.
    """
    return np.maximum(scale, np.maximum(rel * np.abs(expected), 1e-12))
