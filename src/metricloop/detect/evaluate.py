"""Evaluate a monitor on a batch of series: detectors → combined verdict → anomaly events.

This is the pure core that ``metricloop detect`` (live and backtest) calls once it has queried
the metric: no IO, no clock. The caller owns the data (query engine), the time (``--at``) and
the storage of the events (keyed by fingerprint, so re-runs are idempotent).

    batch = SeriesBatch(values, timestamps, grain=spec.grain, keys=slice_keys)
    run = evaluate_monitor(spec, batch, polarity="higher_is_better", feedback=labels)
    for event in run.active_events: ...
    run.chart(0)   # series, band, anomalies of slice 0, ready for a chart
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from metricloop.detect import registry
from metricloop.detect.calendars import calendar_days
from metricloop.detect.feedback import (
    Feedback,
    baseline_resets,
    known_anomaly_mask,
    sensitivity_multiplier,
    tune_params,
)
from metricloop.detect.monitor import MonitorSpec, NoiseSpec
from metricloop.detect.noise import AnomalyEvent, build_events
from metricloop.detect.types import Detection, FloatArray, Polarity, SeriesBatch
from metricloop.i18n import Text


@dataclass
class MonitorRun:
    """Everything one evaluation produced, per point and per event."""

    spec: MonitorSpec
    batch: SeriesBatch
    detections: list[Detection]
    score: FloatArray
    severity: np.ndarray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    events: list[AnomalyEvent]
    sensitivity: float

    @property
    def active_events(self) -> list[AnomalyEvent]:
        return [e for e in self.events if e.active]

    def reason(self, i: int, t: int) -> Text | None:
        """Reason of the detector with the highest severity (then score) at a point."""
        best = max(self.detections, key=lambda d: (int(d.severity[i, t]), float(d.score[i, t])))
        return best.reason(i, t)

    def detectors_at(self, i: int, t: int) -> tuple[str, ...]:
        return tuple(d.detector for d in self.detections if d.severity[i, t] > 0)

    def chart(self, i: int, locale: str = "en") -> dict[str, Any]:
        """Chart-ready JSON of one series: points with band and flags, and its events."""
        ts = self.batch.timestamps
        keys = self.batch.keys[i] if self.batch.keys is not None else {}

        def num(a: FloatArray) -> list[float | None]:
            return [None if not np.isfinite(v) else float(v) for v in a]

        return {
            "monitor": self.spec.name,
            "metric": self.spec.metric,
            "slice": dict(keys),
            "timestamps": [str(t) for t in ts],
            "value": num(self.batch.values[i]),
            "expected": num(self.expected[i]),
            "lower": num(self.lower[i]),
            "upper": num(self.upper[i]),
            "score": num(self.score[i]),
            "severity": [int(s) for s in self.severity[i]],
            "anomalies": [
                {**e.to_dict(), "reason_text": e.reason.render(locale) if e.reason else None}
                for e in self.events
                if e.series == i
            ],
        }


def _holidays(spec: MonitorSpec, batch: SeriesBatch) -> tuple[NoiseSpec, np.ndarray]:
    """The noise spec with calendars and yearly dates expanded over the batch, and the day mask."""
    days_axis = batch.timestamps.astype("datetime64[D]")
    noise = spec.noise
    if batch.n_points and (noise.calendars or noise.yearly):
        first = days_axis[0].astype(dt.date)
        last = days_axis[-1].astype(dt.date)
        extra = calendar_days(noise.calendars, noise.yearly, first, last)
        noise = noise.model_copy(update={"holidays": sorted({*noise.holidays, *extra})})
    if not noise.holidays:
        return noise, np.zeros(batch.n_points, dtype=bool)
    return noise, np.isin(days_axis, np.array(noise.holidays, dtype="datetime64[D]"))


def _bounded(det: Detection, never_negative: np.ndarray, bounds: tuple[float, float] | None) -> Detection:
    """``det`` with its band inside what the series can take: not below 0 where the series has
    never been negative, within ``bounds`` (expected, lower, upper; NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        lower = np.where(never_negative & (det.lower < 0), 0.0, det.lower)
    if bounds is None:
        return replace(det, lower=lower)
    lo, hi = bounds
    return replace(det, expected=np.clip(det.expected, lo, hi), lower=np.clip(lower, lo, hi),
                   upper=np.clip(det.upper, lo, hi))


def evaluate_monitor(
    spec: MonitorSpec,
    batch: SeriesBatch,
    *,
    polarity: Polarity | str | None = None,
    feedback: Iterable[Feedback] = (),
    external_parents: Sequence[AnomalyEvent] = (),
    bounds: tuple[float, float] | None = None,
) -> MonitorRun:
    """Run the monitor's detectors on ``batch`` and turn the verdict into events.

    ``feedback`` (labels of past events) is applied before detection: confirmed anomalies are
    masked out of baselines, new-normal labels restart baselines, false alarms widen the band.
    Holidays (``noise.holidays``, ``calendars``, ``yearly``) are muted and kept out of baselines.
    ``bounds`` are the values the metric can take (a rate: 0–1): bands and the reasons that
    quote them stay inside, so no one reads "normal range 0.97 to 1.04" for a success rate.
    """
    fb = list(feedback)
    keys = list(batch.keys) if batch.keys is not None else [{} for _ in range(batch.n_series)]
    noise, off = _holidays(spec, batch)
    if off.any():  # holidays and festivals are not "normal": keep them out of every baseline
        known = np.broadcast_to(off, batch.values.shape).copy()
        if batch.known_anomalies is not None:
            known |= batch.known_anomalies
        batch = replace(batch, known_anomalies=known)
    if fb:
        mask = known_anomaly_mask(fb, keys, batch.timestamps)
        if batch.known_anomalies is not None:
            mask |= batch.known_anomalies
        batch = replace(batch, known_anomalies=mask, reset_at=baseline_resets(fb, keys))
    mult = sensitivity_multiplier(fb) if fb else 1.0
    direction = spec.effective_direction(polarity)

    detections = []
    for ds in spec.detectors:
        params = dict(ds.params)
        params.setdefault("direction", direction.value)
        if ds.type == "composite":
            params.pop("direction")
        detections.append(registry.run(batch, ds.type, tune_params(params, mult) if mult != 1.0 else params))
    # a series that has never been negative (counts, money, rates) has no negative normal range
    with np.errstate(invalid="ignore"):
        never_negative = ~np.any(batch.values < 0, axis=1, keepdims=True)
    detections = [_bounded(d, never_negative, bounds) for d in detections]  # reasons quote these bands

    sev = np.stack([d.severity for d in detections])
    score = np.stack([d.score for d in detections])
    combined_sev = sev.max(axis=0) if spec.combine == "any" else sev.min(axis=0)
    combined_score = score.max(axis=0) if spec.combine == "any" else score.min(axis=0)
    # the band of the first detector that has one at each point
    expected = np.full(batch.values.shape, np.nan)
    lower = expected.copy()
    upper = expected.copy()
    for d in detections:
        fill = np.isnan(expected) & np.isfinite(d.expected)
        expected[fill], lower[fill], upper[fill] = d.expected[fill], d.lower[fill], d.upper[fill]

    run = MonitorRun(
        spec=spec,
        batch=batch,
        detections=detections,
        score=combined_score,
        severity=combined_sev.astype(np.int8),
        expected=expected,
        lower=lower,
        upper=upper,
        events=[],
        sensitivity=mult,
    )
    run.events = build_events(
        monitor=spec.name,
        timestamps=batch.timestamps,
        values=batch.values,
        expected=expected,
        score=combined_score,
        severity=run.severity,
        keys=keys,
        noise=noise,
        policy=spec.severity,
        reason_at=run.reason,
        detectors_at=run.detectors_at,
        external_parents=external_parents,
    )
    return run
