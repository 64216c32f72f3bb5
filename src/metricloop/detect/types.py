"""The values that flow through anomaly detection: a batch of series in, a detection out.

Everything is a 2-D array ``(n_series, n_points)`` sharing one time axis, so that one detector call
handles every slice of a monitor at once (vectorised with numpy, no Python loop per series).
Missing points are NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metricloop.catalog.models import Grain, Polarity
from metricloop.errors import ConfigError
from metricloop.i18n import Text

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class Severity(IntEnum):
    NONE = 0
    WARNING = 1
    CRITICAL = 2


class Direction(StrEnum):
    """Which deviations matter: ``up`` only rises, ``down`` only drops, ``both`` either."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


def default_direction(polarity: Polarity | str | None) -> Direction:
    """Alert on the harmful side only: drops of revenue, rises of cost; both when neutral."""
    if polarity is None:
        return Direction.BOTH
    p = Polarity(polarity)
    if p is Polarity.higher_is_better:
        return Direction.DOWN
    if p is Polarity.lower_is_better:
        return Direction.UP
    return Direction.BOTH


#: Points per calendar unit for each grain (dense grid assumed; month/week are approximate
#: only for "year" lags, which use 52 weeks / 12 months so weekdays stay aligned).
_LAGS: dict[Grain, dict[str, int]] = {
    Grain.minute: {"previous": 1, "day": 1440, "week": 10080},
    Grain.hour: {"previous": 1, "day": 24, "week": 168, "year": 8736},
    Grain.day: {"previous": 1, "week": 7, "year": 364},
    Grain.week: {"previous": 1, "week": 1, "year": 52},
    Grain.month: {"previous": 1, "year": 12},
}

#: The natural season of each grain: hour-of-week, day-of-week, week-of-year, month-of-year.
SEASON: dict[Grain, int] = {Grain.minute: 1440, Grain.hour: 168, Grain.day: 7, Grain.week: 52, Grain.month: 12}

#: Grains detection supports (the catalog's ``Grain`` has finer and coarser ones: sub-minute
#: series are too noisy to judge per point, quarters and years too slow to alert on).
DETECT_GRAINS: tuple[Grain, ...] = tuple(SEASON)


def lag_points(grain: Grain, compare: str) -> int:
    """How many points back "previous period", "same day last week", "last year" is."""
    lags = _LAGS[Grain(grain)]
    if compare not in lags:
        raise ConfigError(
            f"compare={compare!r} does not apply to grain {grain}; expected one of {sorted(lags)}",
            zh=f"compare={compare!r} 不适用于粒度 {grain}；可选 {sorted(lags)}",
        )
    return lags[compare]


@dataclass(frozen=True)
class SeriesBatch:
    """Many series of one metric on one shared, regular time axis.

    ``keys`` names each series' slice (``{"region": "east"}``; empty dict for the total).
    ``known_anomalies`` marks points that must not feed baselines (confirmed anomalies).
    ``reset_at`` per series: the baseline restarts there ("new normal"); NaT for none.
    ``context`` carries other metrics aligned on the same grid, for composite rules.
    """

    values: FloatArray
    timestamps: NDArray[np.datetime64]
    grain: Grain = Grain.day
    keys: tuple[Mapping[str, str], ...] | None = None
    known_anomalies: BoolArray | None = None
    reset_at: NDArray[np.datetime64] | None = None
    context: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2:
            raise ConfigError(f"values must be a 2-D array (n_series, n_points); got shape {values.shape}")
        ts = np.asarray(self.timestamps).astype("datetime64[ns]")
        if ts.ndim != 1 or len(ts) != values.shape[1]:
            raise ConfigError(
                f"timestamps must be 1-D with one entry per column of values ({values.shape[1]}); "
                f"got shape {ts.shape}"
            )
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "grain", Grain(self.grain))
        if self.grain not in SEASON:
            raise ConfigError(
                f"grain {self.grain.value!r} is not supported by detection; expected one of "
                f"{', '.join(g.value for g in DETECT_GRAINS)}"
            )
        if self.keys is not None and len(self.keys) != values.shape[0]:
            raise ConfigError(f"keys has {len(self.keys)} entries for {values.shape[0]} series")
        if self.known_anomalies is not None and np.shape(self.known_anomalies) != values.shape:
            raise ConfigError(f"known_anomalies must have the shape of values {values.shape}")
        if self.reset_at is not None:
            reset = np.asarray(self.reset_at).astype("datetime64[ns]")
            if reset.shape != (values.shape[0],):
                raise ConfigError(f"reset_at must have one entry per series ({values.shape[0]})")
            object.__setattr__(self, "reset_at", reset)
        for name, arr in self.context.items():
            if np.shape(arr) != values.shape:
                raise ConfigError(f"context[{name!r}] must have the shape of values {values.shape}")

    @property
    def n_series(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.values.shape[1])

    def baseline_values(self) -> FloatArray:
        """Values with known anomalies blanked out, for detectors that learn a baseline."""
        if self.known_anomalies is None:
            return self.values
        return np.where(self.known_anomalies, np.nan, self.values)

    def take(self, rows: NDArray[np.intp] | slice, cols: slice = slice(None)) -> SeriesBatch:
        """A sub-batch (some series, a contiguous time range)."""
        def cut(a: Any) -> Any:
            return None if a is None else np.asarray(a)[rows][:, cols]

        return SeriesBatch(
            values=self.values[rows][:, cols],
            timestamps=self.timestamps[cols],
            grain=self.grain,
            keys=None if self.keys is None else tuple(np.asarray(self.keys, dtype=object)[rows]),
            known_anomalies=cut(self.known_anomalies),
            reset_at=None,
            context={k: cut(v) for k, v in self.context.items()},
        )


ReasonFn = Callable[["Detection", int, int], Text]


@dataclass
class Detection:
    """Per-point output of a detector, each array ``(n_series, n_points)``.

    ``score`` is the deviation relative to the warning level (0 = as expected, >= 1 = beyond the
    warning band) except for detectors that document another scale (``default`` gives [0, 1]).
    ``kind`` picks the reason template of each point (-1: none); reasons are only rendered on
    demand, for flagged points, because building strings for millions of points is slow.
    """

    detector: str
    values: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    score: FloatArray
    severity: NDArray[np.int8]
    templates: tuple[Text, ...] = ()
    kind: NDArray[np.int8] | None = None
    extra: dict[str, FloatArray] = field(default_factory=dict)
    reason_fn: ReasonFn | None = None

    @property
    def flagged(self) -> BoolArray:
        return np.asarray(self.severity > 0)

    def reason(self, i: int, t: int) -> Text | None:
        """The human-readable reason of point ``(series i, time t)``, None when not flagged."""
        if self.severity[i, t] <= 0:
            return None
        if self.reason_fn is not None:
            return self.reason_fn(self, i, t)
        k = -1 if self.kind is None else int(self.kind[i, t])
        if k < 0 or k >= len(self.templates):
            return None
        params = {
            "value": fmt_num(self.values[i, t]),
            "expected": fmt_num(self.expected[i, t]),
            "lower": fmt_num(self.lower[i, t]),
            "upper": fmt_num(self.upper[i, t]),
            "pct": fmt_pct(self.values[i, t], self.expected[i, t]),
            "score": f"{self.score[i, t]:.2f}",
            **{name: fmt_num(arr[i, t]) for name, arr in self.extra.items()},
        }
        return self.templates[k].format(**params)

    def reasons(self) -> dict[tuple[int, int], Text]:
        """Reasons of every flagged point."""
        out: dict[tuple[int, int], Text] = {}
        for i, t in zip(*np.nonzero(self.flagged), strict=True):
            text = self.reason(int(i), int(t))
            if text is not None:
                out[(int(i), int(t))] = text
        return out

    def slice_time(self, cols: slice) -> Detection:
        return Detection(
            detector=self.detector,
            values=self.values[:, cols],
            expected=self.expected[:, cols],
            lower=self.lower[:, cols],
            upper=self.upper[:, cols],
            score=self.score[:, cols],
            severity=self.severity[:, cols],
            templates=self.templates,
            kind=None if self.kind is None else self.kind[:, cols],
            extra={k: v[:, cols] for k, v in self.extra.items()},
            reason_fn=self.reason_fn,
        )


def concat_time(parts: Sequence[Detection]) -> Detection:
    """Join detections of consecutive time ranges (same series)."""
    first = parts[0]

    def cat(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts], axis=1)

    kinds = [p.kind if p.kind is not None else np.full(p.score.shape, -1, np.int8) for p in parts]
    return Detection(
        detector=first.detector,
        values=cat("values"),
        expected=cat("expected"),
        lower=cat("lower"),
        upper=cat("upper"),
        score=cat("score"),
        severity=cat("severity"),
        templates=first.templates,
        kind=np.concatenate(kinds, axis=1),
        extra={k: np.concatenate([p.extra[k] for p in parts], axis=1) for k in first.extra},
        reason_fn=first.reason_fn,
    )


def to_ns(value: object) -> np.datetime64:
    """Any timestamp (datetime, date, numpy or ISO string) as ``datetime64[ns]``."""
    out: np.datetime64 = np.array([value]).astype("datetime64[ns]")[0]
    return out


def fmt_num(x: float) -> str:
    """Compact number for messages: 1234.5 -> "1,234.5", NaN -> "-"."""
    if x is None or not np.isfinite(x):
        return "-"
    ax = abs(float(x))
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 1:
        return f"{x:,.2f}".rstrip("0").rstrip(".")
    return f"{x:.4g}"


def fmt_pct(value: float, ref: float) -> str:
    """Relative change in percent, signed ("+12.5%"), or "-" when undefined."""
    if not (np.isfinite(value) and np.isfinite(ref)) or ref == 0:
        return "-"
    return f"{100.0 * (value - ref) / abs(ref):+.1f}%"
