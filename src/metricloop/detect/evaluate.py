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
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from metricloop.detect import registry
from metricloop.detect.calendars import named_days
from metricloop.detect.feedback import (
    Feedback,
    baseline_resets,
    known_anomaly_mask,
    sensitivity_multiplier,
    tune_params,
)
from metricloop.detect.monitor import MonitorSpec, NoiseSpec
from metricloop.detect.noise import AnomalyEvent, build_events
from metricloop.detect.types import Detection, FloatArray, Polarity, SeriesBatch, Severity, fmt_num, fmt_pct
from metricloop.i18n import Text

#: How far outside its learned band (in band half-widths) a holiday point must be to warn: one past
#: occurrence is a noisy estimate of a holiday's lift. Demo monitors over 12 months
#: (tests/detect/test_service_demo.py): 1 -> 4.9 false alarms a month, 2 -> 0.90, 3 -> 0.49
#: (0.41 when holidays are only muted), all 9 incidents found in each case.
HOLIDAY_WARNING = 3.0

HOLIDAY_REASON = Text(
    en="{value} on {holiday}: the last {holiday} suggests about {expected} ({pct}); normal range {lower} to {upper}",
    zh="{holiday}期间取值 {value}：按上一次{holiday}的表现应约为 {expected}（{pct}），正常范围 {lower} 至 {upper}",
)


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
    holidays: dict[int, str] = field(default_factory=dict)  # column -> calendar day judged against its past

    @property
    def active_events(self) -> list[AnomalyEvent]:
        return [e for e in self.events if e.active]

    def reason(self, i: int, t: int) -> Text | None:
        """Reason of the detector with the highest severity (then score) at a point; on a calendar
        day judged against its last occurrence, that comparison."""
        name = self.holidays.get(t)
        if name is not None and self.severity[i, t] > 0:
            params = {"value": fmt_num(self.batch.values[i, t]), "expected": fmt_num(self.expected[i, t]),
                      "pct": fmt_pct(self.batch.values[i, t], self.expected[i, t]), "holiday": name,
                      "lower": fmt_num(self.lower[i, t]), "upper": fmt_num(self.upper[i, t])}
            return HOLIDAY_REASON.format(**params)
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


def _holidays(spec: MonitorSpec, batch: SeriesBatch) -> tuple[NoiseSpec, np.ndarray, dict[dt.date, str]]:
    """The noise spec with calendars and yearly dates expanded over the batch, the day mask, and
    the calendars' named days (for :func:`holiday_expectation`)."""
    days_axis = batch.timestamps.astype("datetime64[D]")
    noise = spec.noise
    named: dict[dt.date, str] = {}
    if batch.n_points and (noise.calendars or noise.yearly):
        first = days_axis[0].astype(dt.date)
        last = days_axis[-1].astype(dt.date)
        named = named_days(noise.calendars, noise.yearly, first, last)
        noise = noise.model_copy(update={"holidays": sorted({*noise.holidays, *named})})
    if not noise.holidays:
        return noise, np.zeros(batch.n_points, dtype=bool), named
    return noise, np.isin(days_axis, np.array(noise.holidays, dtype="datetime64[D]")), named


@dataclass
class HolidayExpectation:
    """Expectation on calendar days learned from their last occurrence (see holiday_expectation)."""

    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    learned: np.ndarray  # (n_points,) bool: days judged against a past occurrence
    ratio: FloatArray  # (n_series, n_points): the multiplier applied (NaN where none)
    names: dict[int, str]  # column -> holiday name, for reasons


def holiday_expectation(
    timestamps: np.ndarray, values: FloatArray, expected: FloatArray, lower: FloatArray, upper: FloatArray,
    named: dict[dt.date, str],
) -> HolidayExpectation:
    """A holiday changes the expectation: its days are judged against the same days last time.

    The days of one occurrence of a holiday are a run of consecutive dates with one name. For the
    k-th day of an occurrence, the multiplier is the median of value / expected (the detectors'
    ordinary expectation, which never learned from holidays) over the k-th day of earlier
    occurrences of the same name (else over all their days), per series; expected and band are
    scaled by it. Make-up workdays share one name, so a working Saturday is judged like earlier
    working Saturdays. A holiday seen for the first time has no multiplier: it stays muted.
    Causal: only earlier occurrences are used.
    """
    exp, lo, hi = expected.copy(), lower.copy(), upper.copy()
    n, t = values.shape
    ratio = np.full((n, t), np.nan)
    learned = np.zeros(t, dtype=bool)
    names: dict[int, str] = {}
    if not named or t == 0:
        return HolidayExpectation(exp, lo, hi, learned, ratio, names)
    index: dict[dt.date, tuple[str, int, dt.date]] = {}  # date -> (name, day of occurrence, first day)
    for d in sorted(named):
        prev = index.get(d - dt.timedelta(days=1))
        if prev is not None and prev[0] == named[d]:
            index[d] = (named[d], prev[1] + 1, prev[2])
        else:
            index[d] = (named[d], 0, d)
    days = timestamps.astype("datetime64[D]")
    cols: dict[dt.date, np.ndarray] = {}
    for d in index:
        c = np.flatnonzero(days == np.datetime64(d, "D"))
        if c.size:
            cols[d] = c
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where((expected > 0) & np.isfinite(values), values / expected, np.nan)
    for d, c in cols.items():
        name, k, first = index[d]
        same_day = [e for e, (nm, kk, f) in index.items() if nm == name and kk == k and f < first and e in cols]
        pool = same_day or [e for e, (nm, _, f) in index.items() if nm == name and f < first and e in cols]
        if not pool:
            continue
        past = np.concatenate([cols[e] for e in pool])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = np.nanmedian(rel[:, past], axis=1)
        if not np.isfinite(r).any():
            continue
        learned[c] = True
        ratio[:, c] = r[:, None]
        for col in c.tolist():
            names[col] = name
    scale = np.where(np.isfinite(ratio), ratio, 1.0)
    exp, lo, hi = exp * scale, lo * scale, hi * scale
    return HolidayExpectation(exp, lo, hi, learned, ratio, names)


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
    Holidays (``noise.holidays``, ``calendars``, ``yearly``) are kept out of baselines; a calendar day
    whose holiday occurred before in the batch is judged against that occurrence
    (:func:`holiday_expectation`), the others are muted.
    ``bounds`` are the values the metric can take (a rate: 0–1): bands and the reasons that
    quote them stay inside, so no one reads "normal range 0.97 to 1.04" for a success rate.
    """
    fb = list(feedback)
    keys = list(batch.keys) if batch.keys is not None else [{} for _ in range(batch.n_series)]
    noise, off, named = _holidays(spec, batch)
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

    severity = combined_sev.astype(np.int8)
    holiday_names: dict[int, str] = {}
    if named:
        hol = holiday_expectation(batch.timestamps, batch.values, expected, lower, upper, named)
        if hol.learned.any():
            # judged against the last occurrence, whose own lift is uncertain: HOLIDAY_WARNING times
            # the scaled band warns, twice that is critical
            cols = hol.learned
            v = batch.values[:, cols]
            e, lo_h, hi_h = hol.expected[:, cols], hol.lower[:, cols], hol.upper[:, cols]
            with np.errstate(invalid="ignore", divide="ignore"):
                half = np.where(v >= e, hi_h - e, e - lo_h)
                s_h = np.where(half > 0, np.abs(v - e) / half, 0.0)
            s_h = np.where(np.isfinite(hol.ratio[:, cols]) & np.isfinite(s_h), s_h, 0.0)
            if direction.value == "up":
                s_h = np.where(v > e, s_h, 0.0)
            elif direction.value == "down":
                s_h = np.where(v < e, s_h, 0.0)
            sev_h = np.where(s_h >= 2 * HOLIDAY_WARNING, Severity.CRITICAL,
                             np.where(s_h >= HOLIDAY_WARNING, Severity.WARNING, Severity.NONE))
            severity[:, cols] = sev_h.astype(np.int8)
            combined_score[:, cols] = s_h
            expected[:, cols], lower[:, cols], upper[:, cols] = e, lo_h, hi_h
            learned_days = set(np.unique(batch.timestamps[cols].astype("datetime64[D]")).astype(dt.date).tolist())
            noise = noise.model_copy(update={"holidays": [d for d in noise.holidays if d not in learned_days]})
            holiday_names = hol.names
    run = MonitorRun(
        spec=spec,
        batch=batch,
        detections=detections,
        score=combined_score,
        severity=severity,
        expected=expected,
        lower=lower,
        upper=upper,
        events=[],
        sensitivity=mult,
        holidays=holiday_names,
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
