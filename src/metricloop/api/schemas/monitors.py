"""Monitors: definitions (files or written through the API as revisions) and backtest previews."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metricloop.detect.monitors import MonitorDef, definition
from metricloop.localtime import Instant


class MonitorSummary(BaseModel):
    """One monitor as the monitor list shows it."""

    name: str
    metric: str
    description: str
    grain: str
    by: list[str] = Field(description="Dimensions the metric is sliced by (one series per combination).")
    schedule: str = Field(description="Cron expression, in the project's timezone.")
    enabled: bool
    detectors: list[str] = Field(description="Detector types, e.g. seasonal, threshold.")
    origin: str = Field(description="file (monitors/*.yaml, edit the file) | api (written through the API).")
    source: str | None = Field(description="File and line, or 'api (vN)'.")
    editable: bool = Field(description="True for monitors written through the API (files are edited in the project).")
    labels: dict[str, str]

    @classmethod
    def of(cls, m: MonitorDef) -> MonitorSummary:
        spec = m.spec
        return cls(name=spec.name, metric=spec.metric, description=spec.description, grain=spec.grain.value,
                   by=list(spec.by), schedule=spec.schedule, enabled=spec.enabled,
                   detectors=[d.type for d in spec.detectors], origin=m.origin, source=m.source,
                   editable=m.origin == "api", labels=dict(spec.labels))


class MonitorRevisionOut(BaseModel):
    version: int
    origin: str
    change: str = Field(description="created | changed | removed | restored")
    spec_hash: str
    author: str | None
    reason: str | None
    created_at: Instant
    definition: dict[str, Any]


class MonitorDetail(MonitorSummary):
    definition: dict[str, Any] = Field(description="The canonical definition (same keys as monitors/*.yaml).")
    history: list[MonitorRevisionOut]
    precision: dict[str, Any] = Field(description="Feedback counts and precision (confirmed vs false alarms).")

    @classmethod
    def full(cls, m: MonitorDef, history: list[dict[str, Any]], precision: dict[str, Any]) -> MonitorDetail:
        return cls(**MonitorSummary.of(m).model_dump(), definition=definition(m.spec),
                   history=[MonitorRevisionOut(**h) for h in history], precision=precision)


class MonitorDefinitionBody(BaseModel):
    """A monitor definition: a mapping of the monitors/*.yaml keys, or the same as YAML text."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | str = Field(
        description="The monitor (keys of monitors/*.yaml) or its YAML text.",
        examples=[{"name": "gmv_daily", "metric": "gmv", "grain": "day",
                   "detectors": [{"type": "seasonal", "params": {"warning": 4, "critical": 6}}]}])


class SaveMonitorRequest(MonitorDefinitionBody):
    reason: str | None = Field(default=None, max_length=2000, description="Why (kept in the revision).")


class ValidationResult(BaseModel):
    valid: bool = Field(description="Always true here: an invalid definition answers 422 with every problem.")
    name: str
    definition: dict[str, Any] = Field(description="The canonical definition, defaults filled in.")


class BacktestRequest(BaseModel):
    """Preview what a monitor would have fired: an unsaved ``definition`` or a saved ``monitor``."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | str | None = Field(default=None, description="An unsaved definition (preview).")
    monitor: str | None = Field(default=None, max_length=128, description="Or the name of a saved monitor.")
    start: dt.date | None = Field(default=None, description="First day (default: 90 days, or 14 for hourly "
                                                             "monitors, before the newest data).")
    end: dt.date | None = Field(default=None, description="Last day (default: the newest complete data).")
    max_series: int = Field(default=12, ge=1, le=100, description="Series returned for the chart (the most "
                                                                    "affected slices first).")


class BacktestSeries(BaseModel):
    """One series, chart-ready: values, the expected band and the severity per period."""

    slice: dict[str, Any]
    label: str
    timestamps: list[str]
    value: list[float | None]
    expected: list[float | None]
    lower: list[float | None]
    upper: list[float | None]
    severity: list[int] = Field(description="0 normal, 1 warning, 2 critical (per period).")


class BacktestSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    events: int
    suppressed: int
    critical: int
    warning: int
    series: int
    series_shown: int


class BacktestResponse(BaseModel):
    monitor: str
    metric: str
    grain: str
    direction: str
    start: Instant
    end: Instant
    data_until: Instant | None
    summary: BacktestSummary
    series: list[BacktestSeries]
    anomalies: list[dict[str, Any]] = Field(description="The anomalies it would have raised (same shape as "
                                                        "GET /anomalies items, not stored).")
