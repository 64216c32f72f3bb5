"""Missing data / no data: a period without a value (or with a zero, if zero means "nothing").

A silent pipeline is an incident too: dashboards keep the last value and nobody notices.
Levels are run lengths of consecutive missing periods.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import ffill, lag, run_length
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, SeriesBatch
from metricloop.i18n import Text


class MissingParams(DetectorParams):
    warning: float = Field(1, ge=1, description="Consecutive missing periods that warn.")
    critical: float | None = Field(3, ge=1, description="Consecutive missing periods that are critical.")
    zero_is_missing: bool = Field(False, description="Treat 0 as no data (counts that drop to nothing).")


TEMPLATES = (
    Text(
        en="no data for {run} period(s); last value {expected}",
        zh="连续 {run} 个周期无数据；最后一个值为 {expected}",
    ),
)


@register
class MissingDetector(Detector):
    """Score = consecutive missing periods / warning. Leading gaps (before any data) are ignored."""

    name = "missing"
    Params = MissingParams
    title = Text(en="missing data", zh="数据缺失")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, MissingParams)
        x = batch.values
        miss = np.isnan(x)
        if params.zero_is_missing:
            miss |= x == 0
        seen = np.maximum.accumulate(~miss, axis=1)
        seen_before = np.zeros_like(seen)
        seen_before[:, 1:] = seen[:, :-1]
        run = run_length(miss & seen_before)
        last = lag(ffill(np.where(miss, np.nan, x)), 1)
        score = run / params.warning
        return Detection(
            detector=self.name,
            values=x,
            expected=last,
            lower=np.full_like(x, np.nan),
            upper=np.full_like(x, np.nan),
            score=score.astype(np.float64),
            severity=severity_from_score(score, params.warning, params.critical),
            templates=TEMPLATES,
            kind=np.zeros(x.shape, dtype=np.int8),
            extra={"run": run.astype(np.float64)},
        )
