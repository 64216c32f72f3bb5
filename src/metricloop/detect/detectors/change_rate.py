"""Change rate against a reference period: previous period, same period last week, last year.

"Orders fell 35 % against the same day last week" is the alert business owners ask for first.
Levels are relative changes (0.2 = 20 %).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import lag
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, SeriesBatch, lag_points
from metricloop.i18n import Text


class ChangeRateParams(DetectorParams):
    compare: Literal["previous", "day", "week", "year"] = Field(
        "week",
        description="Reference: previous period, same time yesterday (minute grain), "
        "same period last week, or last year (364 days so weekdays align).",
    )
    warning: float = Field(0.2, gt=0, description="Relative change that warns (0.2 = 20 %).")
    critical: float | None = Field(0.5, gt=0, description="Relative change that is critical.")
    min_reference: float = Field(
        0.0, ge=0, description="Ignore points whose reference |value| is below this (tiny bases)."
    )


TEMPLATES = (
    Text(
        en="{value} is {pct} against {reference} ({compare_en}); more than {limit} is abnormal",
        zh="{value} 较{compare_zh} {reference} 变化 {pct}；超过 {limit} 视为异常",
    ),
)

_NAMES = {
    "previous": ("previous period", "上一周期"),
    "day": ("same time yesterday", "昨日同期"),
    "week": ("same period last week", "上周同期"),
    "year": ("same period last year", "去年同期"),
}


@register
class ChangeRateDetector(Detector):
    """Score = |relative change| / warning level; expected = the reference value."""

    name = "change_rate"
    Params = ChangeRateParams
    title = Text(en="change rate", zh="同环比")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, ChangeRateParams)
        x = batch.values
        ref = lag(batch.baseline_values(), lag_points(batch.grain, params.compare))
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (x - ref) / np.abs(ref)
        # a zero (or tiny) reference makes any change infinite: not a rate worth alerting on
        rate = np.where(np.abs(ref) > params.min_reference, rate, np.nan)
        limit = params.warning * params.sensitivity
        score = np.abs(rate) / limit
        if params.direction is Direction.UP:
            score = np.where(rate > 0, score, 0.0)
        elif params.direction is Direction.DOWN:
            score = np.where(rate < 0, score, 0.0)
        score = np.nan_to_num(score, nan=0.0)
        en, zh = _NAMES[params.compare]
        templates = (
            TEMPLATES[0].format(
                value="{value}", pct="{pct}", reference="{expected}", compare_en=en, compare_zh=zh,
                limit=f"{100 * limit:.0f}%",
            ),
        )
        return Detection(
            detector=self.name,
            values=x,
            expected=ref,
            lower=ref - limit * np.abs(ref),
            upper=ref + limit * np.abs(ref),
            score=score,
            severity=severity_from_score(score, params.warning, params.critical),
            templates=templates,
            kind=np.zeros(x.shape, dtype=np.int8),
        )
