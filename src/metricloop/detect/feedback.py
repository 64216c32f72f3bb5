"""Feedback on anomalies, and what it changes.

An owner labels an event:

* ``confirmed``   — a real problem. Its points are masked out of future baselines
  (:func:`known_anomaly_mask` → ``SeriesBatch.known_anomalies``) so the incident does not
  become "normal".
* ``expected``    — a real deviation with a known cause (a promotion, a holiday). Not a detector
  error, but not worth an alert either: it lowers precision, not sensitivity.
* ``false_alarm`` — nothing was wrong. Counts against precision and widens the band (below).
* ``new_normal``  — the level really changed and will stay: the baseline restarts at the event's
  start (:func:`baseline_resets` → ``SeriesBatch.reset_at``), so the detectors learn the new
  level instead of alerting on it for weeks.

Band-widening rule (documented, bounded): with ``fa`` false alarms among ``n`` labelled events,
the smoothed false-alarm rate is ``fa / (n + prior)`` (``prior`` = 5 pseudo-labels of "fine", so
one early false alarm does not swing it). Every point of rate above the target (20 %) widens the
band by ``gain`` (2.5) points: ``sensitivity = 1 + 2.5 × max(0, rate − 0.2)``, capped at ×3 (which
only a monitor that is always wrong approaches). A monitor with 12 false alarms among 20 labels
thus gets ``1 + 2.5 × (12/25 − 0.2) = 1.7``.
The multiplier goes into every detector's ``sensitivity`` parameter (see :func:`tune_params`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metricloop.detect.types import BoolArray, to_ns


class Label(StrEnum):
    CONFIRMED = "confirmed"
    EXPECTED = "expected"
    FALSE_ALARM = "false_alarm"
    NEW_NORMAL = "new_normal"


@dataclass(frozen=True)
class Feedback:
    """A label on one event, with the event's slice and time range (what the rules need)."""

    fingerprint: str
    label: Label
    slice: Mapping[str, str]
    start: dt.datetime | np.datetime64
    end: dt.datetime | np.datetime64
    by: str | None = None


@dataclass(frozen=True)
class Precision:
    labelled: int
    confirmed: int
    expected: int
    false_alarms: int
    new_normal: int

    @property
    def precision(self) -> float | None:
        """Share of labelled alerts that were real and actionable (confirmed or new normal)."""
        if self.labelled == 0:
            return None
        return (self.confirmed + self.new_normal) / self.labelled

    @property
    def false_alarm_rate(self) -> float | None:
        return None if self.labelled == 0 else self.false_alarms / self.labelled

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "confirmed": self.confirmed,
            "expected": self.expected,
            "false_alarms": self.false_alarms,
            "new_normal": self.new_normal,
            "precision": self.precision,
            "false_alarm_rate": self.false_alarm_rate,
        }


def precision(labels: Iterable[Label | str | Feedback]) -> Precision:
    """Counts per label and the monitor's precision; unlabelled events are not counted."""
    counts = dict.fromkeys(Label, 0)
    for item in labels:
        lab = item.label if isinstance(item, Feedback) else Label(item)
        counts[lab] += 1
    return Precision(
        labelled=sum(counts.values()),
        confirmed=counts[Label.CONFIRMED],
        expected=counts[Label.EXPECTED],
        false_alarms=counts[Label.FALSE_ALARM],
        new_normal=counts[Label.NEW_NORMAL],
    )


TARGET_FALSE_ALARM_RATE = 0.2
GAIN = 2.5
PRIOR = 5
MAX_MULTIPLIER = 3.0


def sensitivity_multiplier(
    labels: Iterable[Label | str | Feedback],
    *,
    target: float = TARGET_FALSE_ALARM_RATE,
    gain: float = GAIN,
    prior: int = PRIOR,
    maximum: float = MAX_MULTIPLIER,
) -> float:
    """Band multiplier from the false-alarm rate: ``1 + gain·max(0, fa/(n+prior) − target)``, ≤ max."""
    p = precision(labels)
    rate = p.false_alarms / (p.labelled + prior)
    return float(min(maximum, 1.0 + gain * max(0.0, rate - target)))


def tune_params(params: Mapping[str, Any], multiplier: float) -> dict[str, Any]:
    """Detector parameters with the feedback multiplier applied to ``sensitivity``."""
    out = dict(params)
    out["sensitivity"] = float(out.get("sensitivity", 1.0)) * multiplier
    return out


def _key(slice_keys: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in slice_keys.items()))


def baseline_resets(
    feedback: Iterable[Feedback], keys: Sequence[Mapping[str, str]]
) -> NDArray[np.datetime64]:
    """Per series, where its baseline restarts: the start of its latest ``new_normal`` event.

    The result goes to ``SeriesBatch.reset_at`` (NaT = no reset). Detectors then never mix data
    from before the change into the baseline after it.
    """
    latest: dict[tuple[tuple[str, str], ...], np.datetime64] = {}
    for fb in feedback:
        if fb.label is Label.NEW_NORMAL:
            k = _key(fb.slice)
            t = to_ns(fb.start)
            if k not in latest or t > latest[k]:
                latest[k] = t
    return np.array([latest.get(_key(k), np.datetime64("NaT", "ns")) for k in keys], dtype="datetime64[ns]")


def known_anomaly_mask(
    feedback: Iterable[Feedback], keys: Sequence[Mapping[str, str]], timestamps: NDArray[np.datetime64]
) -> BoolArray:
    """True on the periods of ``confirmed`` events, per series: kept out of baselines."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    rows = {_key(k): i for i, k in enumerate(keys)}
    mask = np.zeros((len(keys), len(ts)), dtype=bool)
    for fb in feedback:
        if fb.label is not Label.CONFIRMED:
            continue
        i = rows.get(_key(fb.slice))
        if i is None:
            continue
        mask[i] |= (ts >= to_ns(fb.start)) & (ts <= to_ns(fb.end))
    return mask
