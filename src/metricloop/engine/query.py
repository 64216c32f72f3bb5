"""A metric query: what to compute, sliced how, over which time, compared with what."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from metricloop.catalog.models import Grain
from metricloop.engine.filters import MAX_FILTER_CHARS

Name = Annotated[str, StringConstraints(max_length=256)]

Compare = Literal["previous_period", "last_week", "last_year"]
COMPARE_SUFFIXES = ("prev", "delta", "pct")


class MetricQuery(BaseModel):
    """Metrics × group-by × filter × time range × order × limit (+ period-over-period).

    ``group_by`` takes dimension names (``region``, ``customer__region``, ``metric_time__month``);
    ``grain`` is shorthand for grouping by ``metric_time`` at that grain. ``start``/``end`` are
    inclusive and snap to whole periods of the query's grain (day when there is none).
    Without metrics, the query lists the distinct values of its group-by dimensions (and
    ``metric_time`` comes from the project's time spine).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: list[Name] = Field(default_factory=list)
    group_by: list[Name] = Field(default_factory=list)
    grain: Grain | None = None
    where: str | None = Field(default=None, max_length=MAX_FILTER_CHARS,
                              description=f"Filter (the documented filter language), at most {MAX_FILTER_CHARS} "
                                          "characters.")
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    order_by: list[Name] = Field(default_factory=list, description="Output columns; '-name' sorts descending.")
    limit: int | None = Field(default=None, ge=1, le=10_000_000)
    compare: Compare | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _date(cls, v: object) -> object:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return dt.datetime(v.year, v.month, v.day)
        if isinstance(v, str) and len(v) == 10:
            return dt.datetime.fromisoformat(v)
        return v

    @field_validator("metrics", "group_by")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        dupes = [x for x in v if x in seen or seen.add(x)]  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"listed twice: {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _something(self) -> MetricQuery:
        if not self.metrics and not self.group_by and self.grain is None:
            raise ValueError("give at least one metric or one group-by dimension")
        return self

    def dimensions(self) -> list[str]:
        """Group-by names with ``grain`` folded into ``metric_time``."""
        dims = list(self.group_by)
        if self.grain is not None:
            if "metric_time" in dims:
                dims[dims.index("metric_time")] = f"metric_time__{self.grain.value}"
            elif not any(d.startswith("metric_time__") for d in dims):
                dims.insert(0, f"metric_time__{self.grain.value}")
        return dims

    def cache_key(self) -> str:
        return self.model_dump_json()
