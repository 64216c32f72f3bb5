"""The structured request: what the assistant understood, in the product's own terms.

Both the offline parser and the optional LLM produce one; :func:`validate` checks it against the
catalog with the same rules whoever wrote it (known metrics, dimensions the metrics have, a
filter in the filter language, a time range in order), so a model's answer gets no shortcut.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metricloop.catalog.catalog import Catalog, available_dimensions
from metricloop.catalog.models import Grain
from metricloop.engine.filters import parse_filter
from metricloop.errors import MetricLoopError, QueryError

Intent = Literal["query", "trend", "compare", "rank", "why", "define", "owner", "status", "similar"]
INTENTS: tuple[str, ...] = ("query", "trend", "compare", "rank", "why", "define", "owner", "status", "similar")
CompareTo = Literal["previous_period", "last_week", "last_year"]
#: intents that cannot be answered without at least one metric
NEEDS_METRIC = frozenset({"query", "trend", "compare", "rank", "why", "define", "owner"})
GRAINS: tuple[str, ...] = ("hour", "day", "week", "month", "quarter", "year")


class AskRequest(BaseModel):
    """One question, understood: intent, metrics × dimensions × filter × time (+ comparison, order)."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent = Field(description="query | trend | compare | rank | why | define | owner | status | similar")
    metrics: list[str] = Field(default_factory=list, description="Metric names as in the catalog.")
    by: list[str] = Field(default_factory=list, description="Dimension names to group by.")
    where: str | None = Field(default=None, description="A filter in MetricLoop's filter language.")
    start: dt.date | None = Field(default=None, description="First day, inclusive (YYYY-MM-DD).")
    end: dt.date | None = Field(default=None, description="Last day, inclusive (YYYY-MM-DD).")
    grain: Literal["hour", "day", "week", "month", "quarter", "year"] | None = None
    compare: CompareTo | None = None
    order: str | None = Field(default=None, description="A metric name; '-name' sorts descending.")
    limit: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _day(cls, v: object) -> object:
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, str) and len(v) > 10:
            return v[:10]
        return v

    def interpretation(self) -> dict[str, Any]:
        """The JSON contract's ``interpretation`` object."""
        return {"metrics": list(self.metrics), "by": list(self.by), "where": self.where,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "grain": self.grain, "compare": self.compare, "order": self.order, "limit": self.limit}

    def grain_enum(self) -> Grain | None:
        return Grain(self.grain) if self.grain else None


def parse_request(data: Any) -> AskRequest:
    """A request from untrusted JSON (a model's tool call): pydantic errors become one QueryError."""
    try:
        return AskRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise QueryError(f"invalid request: {where}: {first['msg']}",
                         zh=f"请求无效：{where}：{first['msg']}") from None


def validate(catalog: Catalog, req: AskRequest) -> AskRequest:
    """Check ``req`` against the catalog; raise :class:`QueryError` naming the first problem."""
    for name in req.metrics:
        if name not in catalog.metrics:
            raise QueryError(f"unknown metric '{name}'", zh=f"未知指标 '{name}'")
    if req.intent in NEEDS_METRIC and not req.metrics:
        raise QueryError(f"intent '{req.intent}' needs a metric", zh=f"意图 '{req.intent}' 需要指定指标")
    dims: set[str] | None = None
    for name in req.metrics:
        have = available_dimensions(catalog, catalog.metric(name))
        dims = have if dims is None else dims & have
    dims = dims or set()
    for d in req.by:
        if req.metrics and d not in dims:
            raise QueryError(f"dimension '{d}' is not available for {', '.join(req.metrics)}",
                             zh=f"维度 '{d}' 不适用于 {', '.join(req.metrics)}")
    if req.where:
        try:
            idents = parse_filter(req.where).identifiers()
        except MetricLoopError as exc:
            raise QueryError(f"where: {exc.message}", zh=f"where：{exc.message_zh or exc.message}") from None
        for ident in idents:
            if req.metrics and ident not in dims:
                raise QueryError(f"where: dimension '{ident}' is not available for {', '.join(req.metrics)}",
                                 zh=f"where：维度 '{ident}' 不适用于 {', '.join(req.metrics)}")
    if req.start and req.end and req.start > req.end:
        raise QueryError("start is after end", zh="开始日期晚于结束日期")
    if req.order:
        name = req.order.lstrip("-")
        if name not in req.metrics and name not in req.by:
            raise QueryError(f"order: '{name}' is neither a requested metric nor a dimension",
                             zh=f"order：'{name}' 不是所查询的指标或维度")
    return req


def json_schema() -> dict[str, Any]:
    """The request's JSON schema (the LLM's tool parameters)."""
    return AskRequest.model_json_schema()
