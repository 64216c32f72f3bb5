"""Cause analysis: why a metric moved (localized slices, drill-down, metric-tree attribution)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from metricloop.catalog.models import Grain
from metricloop.localtime import Instant


class Period(BaseModel):
    start: Instant
    end: Instant = Field(description="Exclusive.")


class ExplainRequest(BaseModel):
    """Explain one move: a period (``at`` + ``grain``, or ``start``..``end``) against a baseline."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128)
    at: Instant | None = Field(default=None, description="A moment inside the period (with ``grain``).")
    grain: Grain = Grain.day
    start: Instant | None = Field(default=None, description="Or the period's start ...")
    end: Instant | None = Field(default=None, description="... and its exclusive end.")
    baseline: Instant | None = Field(default=None, description="Start of the baseline period (default: "
                                                                    "the period shifted by ``vs``).")
    vs: Literal["previous_period", "last_week", "last_year"] = "last_week"
    by: list[Annotated[str, StringConstraints(max_length=256)]] | None = Field(
        default=None, max_length=12,
        description="Dimensions to search (default: every categorical dimension of the metric).")
    where: str | None = Field(default=None, max_length=2000, description="Filter (the documented filter language).")


class ExplanationOut(BaseModel):
    """A stored explanation (same shape as ``metricloop explain --format json``)."""

    model_config = ConfigDict(extra="allow")

    id: int | None
    metric: str
    label: str
    period: Period
    baseline: Period
    dimensions: list[str]
    actual: float | None
    expected: float | None
    change: float | None
    relative_change: float | None
    summary: dict[str, str] | None = Field(description="One paragraph in en and zh-CN.")
    localization: dict[str, Any] | None = Field(description="The slices that explain the move: ``causes`` "
                                                            "[{element, contribution, actual, expected, ...}].")
    drilldown: dict[str, Any] | None = Field(description="Per dimension, every value's change and share.")
    attribution: dict[str, Any] | None = Field(description="The change split over the metric tree's inputs.")
    notes: list[dict[str, str]]
    anomaly_fingerprint: str | None = None
