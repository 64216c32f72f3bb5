"""Anomalies (what the monitors found) and the feedback labels people give them."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from metricloop.detect.service import AnomalyRecord
from metricloop.localtime import Instant, wall_clock
from metricloop.workflow.bands import Bounds, bounded

LabelName = Literal["confirmed", "expected", "false_alarm", "new_normal"]


def local_time(t: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    """Project wall-clock (naive) or aware time → aware time in the project's timezone."""
    return None if t is None else wall_clock(t, tz)


class I18nText(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    en: str
    zh_cn: str = Field(alias="zh-CN")


class AnomalyOut(BaseModel):
    """One anomaly event (consecutive abnormal periods of one series)."""

    fingerprint: str = Field(description="Stable id of the event (a unique prefix of 6+ characters also works).")
    monitor: str
    metric: str
    metric_label: str = Field(description="The metric's name in the reader's language.")
    grain: str
    slice: dict[str, str] = Field(description="The series, e.g. {region: 华东}; empty for the metric's total.")
    start: Instant
    end: Instant = Field(description="Start of the last abnormal period.")
    peak: Instant
    severity: str = Field(description="warning | critical")
    score: float | None
    actual: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    impact: float | None = Field(description="Sum of (actual − expected) over the event.")
    points: int
    reason: I18nText | None
    reason_text: str | None = Field(description="The reason in the reader's language.")
    detectors: list[str]
    state: str = Field(description="active | suppressed | retracted | stale")
    suppressed_by: str | None
    label: str | None = Field(description="Feedback: confirmed | expected | false_alarm | new_normal.")

    @classmethod
    def of(cls, a: AnomalyRecord, tz: dt.tzinfo, locale: str, metric_label: str,
           bounds: Bounds | None = None) -> AnomalyOut:
        d = bounded(a.to_dict(locale), bounds)  # a rate's band within 0–100 %
        for k in ("start", "end", "peak"):
            d[k] = local_time(d[k], tz)
        d.pop("spec_hash", None)
        d.pop("change", None)
        return cls(**d, metric_label=metric_label)


class LabelOut(BaseModel):
    label: str
    note: str | None
    author: str | None
    created_at: Instant


class AnomalyDetail(AnomalyOut):
    labels: list[LabelOut] = Field(description="Every feedback label given, oldest first.")
    explanation_id: int | None = Field(description="The stored cause analysis of this anomaly, if any.")
    incident: str | None = Field(description="The incident this anomaly belongs to (INC-n), if any.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: LabelName = Field(description="confirmed (a real problem), expected (a known cause), false_alarm, "
                                         "new_normal (the level changed for good: reset the baseline).")
    note: str | None = Field(default=None, max_length=2000)

