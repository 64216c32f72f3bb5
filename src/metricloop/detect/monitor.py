"""Monitor definitions: ``monitors/*.yaml`` — what to watch, how, how often, how loud.

Example::

    name: gmv_by_region
    metric: gmv
    by: [region]
    top_n: 20
    explore: [region, channel]   # also the largest region x channel combinations
    min_volume: 1000
    grain: day
    schedule: "0 9 * * *"
    timezone: Asia/Shanghai
    delay: 2h
    direction: down            # default: from the metric's polarity
    detectors:
      - type: seasonal
        params: {warning: 3, critical: 5}
      - type: change_rate
        params: {compare: week, warning: 0.2, critical: 0.4}
    noise:
      min_rel_deviation: 0.05
      consecutive: 1
      cooldown: 3
      holidays: ["2025-10-01"]

Unknown keys are rejected, every detector's parameters are validated against that detector's
own model when the file is read, and errors name the file, line and field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metricloop.detect.types import DETECT_GRAINS, Direction, Grain, Polarity, Severity, default_direction
from metricloop.errors import ConfigError, DefinitionError, Issue, Location, MetricLoopError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_duration(value: Any) -> dt.timedelta:
    """``"2h"``, ``"30m"``, ``"1d"``, a number of seconds, or a timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
        if value.strip().upper().startswith("P"):  # ISO 8601, as stored definitions serialize it ("PT1H")
            try:
                return TypeAdapter(dt.timedelta).validate_python(value.strip())
            except ValidationError:
                pass
    raise ValueError(f"expected a duration like '30m', '2h', '1d' or seconds; got {value!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: What a monitor that names no detector runs the ``default`` detector with. Business KPIs: a
#: whole incident, not each of its points, may raise the worst surprise the next one must beat.
#: On the seeded business series (``bench/detect.py::business_series``, 200 series, events
#: through ``evaluate_monitor``) event F1 0.489/0.471 -> 0.590/0.572 on seeds 1/2, precision
#: higher too. The detector's own default stays ``point``: it is what NAB scores (70.7 vs 62.3).
MONITOR_DEFAULT_PARAMS: Mapping[str, Any] = {"record_step_per": "incident"}


class DetectorSpec(_Strict):
    """One detector of a monitor, validated against the registered detector's parameters."""

    type: str = Field(
        "default",
        description="Registered detector type: default, ensemble, threshold, change_rate, seasonal, forecast, "
        "level_shift, trend, missing, composite, or a plugin's name.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of that detector (see its documentation)."
    )

    @model_validator(mode="after")
    def _check(self) -> DetectorSpec:
        from metricloop.detect.registry import get, parse_params

        try:
            get(self.type)  # lists the known types when unknown
            parse_params(self.type, self.params)
        except MetricLoopError as exc:  # let pydantic attach the location (detectors.1)
            where = f"{exc.location}: " if exc.location else ""
            raise ValueError(f"{where}{exc.message}") from None
        return self


class SeverityPolicy(_Strict):
    """How detector severities become event severities."""

    min_severity: Literal["warning", "critical"] = Field(
        "warning", description="Lowest severity that opens an anomaly event (critical = page only on critical)."
    )
    escalate_after: int | None = Field(
        None, ge=1, description="A warning that lasts this many consecutive periods becomes critical."
    )

    @property
    def minimum(self) -> Severity:
        return Severity.CRITICAL if self.min_severity == "critical" else Severity.WARNING


class MuteWindow(_Strict):
    """A period without alerts: a fixed range (maintenance) and/or a daily time range."""

    start: dt.datetime | None = Field(None, description="Start of a one-off mute (inclusive).")
    end: dt.datetime | None = Field(None, description="End of a one-off mute (exclusive).")
    daily: str | None = Field(None, description="Daily range 'HH:MM-HH:MM' (project's wall clock, like the data).")
    reason: str = Field("", description="Why alerts are muted (shown in the backtest and UI).")

    @field_validator("daily")
    @classmethod
    def _daily(cls, v: str | None) -> str | None:
        if v is not None and not _DAILY.match(v):
            raise ValueError("expected 'HH:MM-HH:MM', e.g. '00:00-06:00'")
        return v

    @model_validator(mode="after")
    def _some(self) -> MuteWindow:
        if self.daily is None and self.start is None and self.end is None:
            raise ValueError("give start/end or daily")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class NoiseSpec(_Strict):
    """Noise control: which abnormal points become events, and how often an owner hears about it."""

    min_abs_deviation: float = Field(
        0.0, ge=0, description="Ignore points whose |actual − expected| is below this (metric units)."
    )
    min_rel_deviation: float = Field(
        0.0, ge=0, description="Ignore points whose |actual − expected| / |expected| is below this (0.05 = 5 %)."
    )
    min_share_deviation: float = Field(
        0.0,
        ge=0,
        description="Ignore points whose |actual − expected| is below this share of the expected value of "
        "all the monitor's slices together at that period (0.002 = 0.2 %; additive metrics): what a slice "
        "moves must matter to the whole business, at any company size.",
    )
    consecutive: int = Field(1, ge=1, description="Abnormal periods in a row needed before an event opens.")
    cooldown: int = Field(
        0, ge=0, description="Periods after an event during which a new event on the same slice is suppressed."
    )
    merge_gap: int = Field(
        0, ge=0, description="Abnormal runs separated by at most this many normal periods form one event."
    )
    mute: list[MuteWindow] = Field(default_factory=list, description="Mute windows (maintenance, nights).")
    holidays: list[dt.date] = Field(
        default_factory=list, description="Dates (in the project's timezone) on which no event opens."
    )
    calendars: list[str] = Field(
        default_factory=list,
        description="Built-in recurring calendars muted every year and kept out of baselines: "
        "cn_holidays (春节, 国庆, 元旦), cn_shopping_festivals (双11, 618, 双12, 三八).",
    )
    yearly: list[str] = Field(
        default_factory=list,
        description="The team's own recurring dates, muted every year: 'MM-DD' or 'MM-DD..MM-DD'.",
    )
    inhibit_children: bool = Field(
        True, description="A slice is not alerted when its parent slice (fewer dimensions) fires in the same window "
        "and moved the same way (both up or both down)."
    )

    @field_validator("calendars")
    @classmethod
    def _calendars(cls, v: list[str]) -> list[str]:
        from metricloop.detect.calendars import check_calendar

        return [check_calendar(c) for c in v]

    @field_validator("yearly")
    @classmethod
    def _yearly(cls, v: list[str]) -> list[str]:
        from metricloop.detect.calendars import check_yearly

        return [check_yearly(c) for c in v]


class MonitorSpec(_Strict):
    """A monitor: one metric, optionally sliced, watched by one or more detectors on a schedule."""

    name: str = Field(description="Unique name (lowercase letters, digits, '_' and '-').")
    description: str = Field("", description="What this monitor protects, for the people who receive it.")
    metric: str = Field(description="Name of the metric in the catalog.")
    by: list[str] = Field(default_factory=list, description="Dimensions to slice by; one series per combination.")
    top_n: int | None = Field(None, ge=1, description="Keep only the N largest slices by volume.")
    total: bool = Field(
        True, description="With `by` or `explore`, also watch the total; its events inhibit the slices' events "
        "(same cause). `explore` without `by` and `total: false`: only the explored combinations are watched."
    )
    min_volume: float | None = Field(
        None, ge=0, description="Skip slices whose total over the history is below this (too small to judge)."
    )
    explore: list[str] = Field(
        default_factory=list,
        description="Also watch the largest combinations of these dimensions (e.g. [city, cuisine]) as their "
        "own series, without a hand-written monitor per combination: each run keeps the combinations that "
        "carry at least `explore_min_share` of the metric over the history, the `explore_top` largest. "
        "Their anomalies name the combination; a parent slice firing the same way inhibits them.",
    )
    explore_top: int = Field(
        20, ge=1, le=500, description="With `explore`: at most this many combinations (the largest by volume)."
    )
    explore_min_share: float = Field(
        0.01, ge=0, lt=1, description="With `explore`: skip combinations carrying less than this share of the "
        "metric's volume (a rate's denominator) over the history (0.01 = 1 %): too small for a meaningful band.",
    )
    min_point_volume: float | None = Field(
        None, ge=0, description="Periods whose volume (a rate's denominator, else the value) is below this are "
        "not judged and kept out of baselines: a success rate over 3 attempts says nothing.",
    )
    where: str | None = Field(None, description="Optional filter expression applied to the metric query.")
    grain: Grain = Field(Grain.day, description="Time grain of the series: minute, hour, day, week, month.")
    history: int | None = Field(
        None, ge=2, description="Past periods loaded as baseline; default depends on the grain."
    )
    schedule: str = Field("0 * * * *", description="Cron expression of when the monitor runs.")
    timezone: str | None = Field(
        None, description="IANA timezone of the schedule; default: the project's timezone (that of the data)."
    )
    delay: dt.timedelta = Field(
        dt.timedelta(0),
        description="Data delay: a period is evaluated only once it ended at least this long ago "
        "and ingest freshness covers it ('2h', '30m', '1d').",
    )
    detectors: list[DetectorSpec] = Field(
        default_factory=lambda: [DetectorSpec(type="default", params=dict(MONITOR_DEFAULT_PARAMS))],
        min_length=1,
        description="Detectors to run; their results are combined by `combine`. None given: the default "
        "detector with `record_step_per: incident`, so one long incident does not hide the next.",
    )
    combine: Literal["any", "all"] = Field(
        "any", description="any: a point is abnormal if one detector flags it; all: only if every one does."
    )
    severity: SeverityPolicy = Field(default_factory=SeverityPolicy, description="Severity policy.")
    direction: Direction | None = Field(
        None, description="up, down or both; default from the metric's polarity (drops for higher-is-better)."
    )
    noise: NoiseSpec = Field(default_factory=NoiseSpec, description="Noise control.")
    labels: dict[str, str] = Field(default_factory=dict, description="Free labels (team, tier, ...) for routing.")
    owner: str | None = Field(None, description="Owner override; default from the responsibility table.")
    enabled: bool = Field(True, description="Disabled monitors are kept but never run.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("expected lowercase letters, digits, '_' or '-', starting with a letter or digit")
        return v

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, v: Any) -> dt.timedelta:
        return parse_duration(v)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a valid cron expression (e.g. '0 9 * * *')")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA timezone (e.g. 'Asia/Shanghai')") from None
        return v

    @field_validator("grain")
    @classmethod
    def _grain(cls, v: Grain) -> Grain:
        if v not in DETECT_GRAINS:
            known = ", ".join(g.value for g in DETECT_GRAINS)
            raise ValueError(f"{v.value!r} is not a detection grain; expected one of {known}")
        return v

    @field_validator("by")
    @classmethod
    def _by(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("dimensions in `by` must be distinct")
        return v

    @field_validator("explore")
    @classmethod
    def _explore(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("dimensions in `explore` must be distinct")
        by = info.data.get("by") or []
        if v and set(v) <= set(by):
            raise ValueError("`explore` must name a dimension that `by` does not (e.g. by: [city], "
                             "explore: [city, cuisine]); these slices are already watched")
        return v

    def effective_direction(self, polarity: Polarity | str | None = None) -> Direction:
        """The monitor's direction, or the default derived from the metric's polarity."""
        return self.direction if self.direction is not None else default_direction(polarity)

    def history_periods(self) -> int:
        """Periods of history to load: enough for the detectors' seasons and warm-ups."""
        if self.history is not None:
            return self.history
        # hour/minute: 10 seasons, so the last periods still see the seasonal detector's 8 past seasons
        return {Grain.minute: 10 * 1440, Grain.hour: 10 * 168, Grain.day: 400, Grain.week: 156,
                Grain.month: 48}[self.grain]


# --------------------------------------------------------------------------- parsing


def _line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """1-based line of a field path in a YAML document (None if not found)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_monitor(data: Mapping[str, Any], *, file: str | None = None, text: str | None = None) -> MonitorSpec:
    """Validate one monitor definition; raise DefinitionError naming file, line and field."""
    try:
        return MonitorSpec.model_validate(dict(data))
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r}"
            issues.append(Issue(msg, Location(file=file, line=_line_of(text, loc) if text else None, field=field)))
        raise DefinitionError(issues) from None


def parse_monitor_yaml(text: str, *, file: str | None = None) -> MonitorSpec:
    """Parse the text of ``monitors/<name>.yaml``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}",
            location=Location(file=file, line=mark.line + 1 if mark else None),
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("a monitor file must be a mapping of keys (name, metric, ...)", location=Location(file=file))
    return parse_monitor(data, file=file, text=text)
