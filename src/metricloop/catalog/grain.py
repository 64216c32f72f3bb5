"""Time grains, apart from the pydantic definitions (:mod:`metricloop.catalog.models` re-exports
:class:`Grain`): the CLI names it in option types, and ``metricloop --help`` need not import pydantic."""

from __future__ import annotations

from enum import StrEnum


class Grain(StrEnum):
    # sub-daily grains exist for event streams (and MetricFlow parity); most metrics use day and up
    millisecond = "millisecond"
    second = "second"
    minute = "minute"
    hour = "hour"
    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"

    @property
    def order(self) -> int:
        return list(Grain).index(self)
