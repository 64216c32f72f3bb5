"""Noise control: from abnormal points to a short, ranked list of anomaly events.

Owners stop reading alerts that fire on every wiggle. The rules, applied in this order:

1. minimum deviation — |actual − expected| must reach ``min_abs_deviation`` and
   ``min_rel_deviation`` × |expected| (a 3-sigma move of 2 orders is not news), and
   ``min_share_deviation`` × the expectation of all slices together (a store's swing of a few
   dozen sessions is noise to a national business, at any company size);
2. mute windows and holidays — no event opens in them;
3. ``consecutive`` — only runs of at least N abnormal periods count (the whole run is kept, so
   the event starts where the problem started);
4. merging — runs separated by at most ``merge_gap`` normal periods become one event
   (start, end, peak, severity, impact = Σ|actual − expected|);
5. ``cooldown`` — an event starting within N periods after the previous event of the same slice
   ended is suppressed;
6. parent inhibition — a slice's event is suppressed when its parent slice (a subset of its
   dimensions with the same values, e.g. ``{region: east}`` for ``{region: east, channel: app}``)
   has an event overlapping it *that moved the same way* (both up or both down): the parent
   already tells the story. A city's drop while the nation rose on a holiday is news of its own;
7. ranking — events by impact, largest first.

Suppressed events are returned with ``suppressed_by`` set rather than dropped, so a backtest can
show what noise control removed. Timestamps are wall-clock times in the monitor's timezone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from metricloop.detect.arrays import run_length
from metricloop.detect.monitor import MuteWindow, NoiseSpec, SeverityPolicy
from metricloop.detect.types import BoolArray, FloatArray, Severity, to_ns
from metricloop.i18n import Text


@dataclass(frozen=True)
class AnomalyEvent:
    """One anomaly: consecutive abnormal periods of one slice, merged."""

    fingerprint: str
    monitor: str
    slice: Mapping[str, str]
    series: int  # row in the batch
    start: np.datetime64
    end: np.datetime64  # last abnormal period (inclusive)
    peak: np.datetime64
    peak_value: float
    peak_expected: float
    severity: Severity
    score: float  # largest score in the event
    impact: float  # Σ |actual − expected| over its abnormal points
    points: int
    reason: Text | None = None
    suppressed_by: str | None = None
    detectors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return self.suppressed_by is None

    @property
    def direction(self) -> int:
        """+1 when the event's peak is above its expectation, -1 below, 0 when unknown."""
        if not (np.isfinite(self.peak_value) and np.isfinite(self.peak_expected)):
            return 0
        return int(np.sign(self.peak_value - self.peak_expected))

    def to_dict(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "monitor": self.monitor,
            "slice": dict(self.slice),
            "start": str(self.start),
            "end": str(self.end),
            "peak": str(self.peak),
            "peak_value": self.peak_value,
            "peak_expected": self.peak_expected,
            "severity": self.severity.name.lower(),
            "score": self.score,
            "impact": self.impact,
            "points": self.points,
            "reason": None if self.reason is None else self.reason.to_dict(),
            "suppressed_by": self.suppressed_by,
            "detectors": list(self.detectors),
        }


def fingerprint(monitor: str, slice_keys: Mapping[str, str], period_start: object) -> str:
    """Stable id of an event: same monitor, slice and start period → same fingerprint.

    Re-running detection (or re-running it after late data) finds the same fingerprint and
    updates the stored event instead of creating a duplicate. Key order does not matter.
    """
    start = to_ns(period_start).astype("datetime64[s]")
    payload = json.dumps(
        [monitor, sorted((str(k), str(v)) for k, v in slice_keys.items()), str(start)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def deviation_mask(values: FloatArray, expected: FloatArray, noise: NoiseSpec) -> BoolArray:
    """True where the deviation is large enough to matter (points without expectation pass)."""
    dev = np.abs(values - expected)
    known = np.isfinite(expected)
    ok = np.ones(values.shape, dtype=bool)
    if noise.min_abs_deviation > 0:
        ok &= ~known | (dev >= noise.min_abs_deviation)
    if noise.min_rel_deviation > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = dev / np.abs(expected)
        ok &= ~known | (np.nan_to_num(rel, nan=np.inf) >= noise.min_rel_deviation)
    if noise.min_share_deviation > 0:
        # the whole = every slice's expectation at that period (a lone total series: itself)
        whole = np.nansum(np.abs(np.where(known, expected, np.nan)), axis=0, keepdims=True)
        ok &= ~known | (dev >= noise.min_share_deviation * whole)
    return ok


def _naive(t: dt.datetime) -> np.datetime64:
    return np.datetime64(t.replace(tzinfo=None), "ns")


def mute_mask(timestamps: NDArray[np.datetime64], mute: Sequence[MuteWindow], holidays: Sequence[dt.date]) -> BoolArray:
    """True for periods inside a mute window or on a holiday (1-D, per timestamp)."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    out = np.zeros(len(ts), dtype=bool)
    if holidays:
        days = ts.astype("datetime64[D]")
        out |= np.isin(days, np.array([np.datetime64(d, "D") for d in holidays]))
    minutes = ((ts - ts.astype("datetime64[D]")) // np.timedelta64(1, "m")).astype(np.int64)
    for w in mute:
        if w.daily is None:
            lo = _naive(w.start) if w.start else np.datetime64("1677-09-22", "ns")
            hi = _naive(w.end) if w.end else np.datetime64("2262-04-11", "ns")
            out |= (ts >= lo) & (ts < hi)
            continue
        a, b = w.daily.split("-")
        m0 = int(a[:2]) * 60 + int(a[3:])
        m1 = int(b[:2]) * 60 + int(b[3:])
        daily = (minutes >= m0) & (minutes < m1) if m0 <= m1 else (minutes >= m0) | (minutes < m1)
        if w.start or w.end:
            lo = _naive(w.start) if w.start else np.datetime64("1677-09-22", "ns")
            hi = _naive(w.end) if w.end else np.datetime64("2262-04-11", "ns")
            daily &= (ts >= lo) & (ts < hi)
        out |= daily
    return out


def keep_runs(mask: BoolArray, n: int) -> BoolArray:
    """Keep only runs of at least ``n`` consecutive True (whole runs, including their start)."""
    if n <= 1:
        return mask.copy()
    runs = run_length(mask)
    # a run's final length is the run length at its last point; spread it back over the run
    last = mask & ~np.concatenate([mask[:, 1:], np.zeros((mask.shape[0], 1), bool)], axis=1)
    total = np.where(last, runs, 0)
    # propagate each run's total backwards over the run
    rev = total[:, ::-1].copy()
    keep_rev = np.zeros_like(rev)
    cur = np.zeros(mask.shape[0], dtype=rev.dtype)
    mrev = mask[:, ::-1]
    for i in range(rev.shape[1]):
        cur = np.where(rev[:, i] > 0, rev[:, i], np.where(mrev[:, i], cur, 0))
        keep_rev[:, i] = cur
    return np.asarray(mask & (keep_rev[:, ::-1] >= n))


def segments(mask_row: NDArray[np.bool_], gap: int) -> list[tuple[int, int]]:
    """Inclusive (start, end) index ranges of True runs, merging runs split by <= gap False."""
    idx = np.flatnonzero(mask_row)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _is_parent(parent: Mapping[str, str], child: Mapping[str, str]) -> bool:
    return len(parent) < len(child) and all(child.get(k) == v for k, v in parent.items())


def build_events(
    *,
    monitor: str,
    timestamps: NDArray[np.datetime64],
    values: FloatArray,
    expected: FloatArray,
    score: FloatArray,
    severity: NDArray[np.int8],
    keys: Sequence[Mapping[str, str]] | None,
    noise: NoiseSpec,
    policy: SeverityPolicy | None = None,
    reason_at: object = None,
    detectors_at: object = None,
    external_parents: Sequence[AnomalyEvent] = (),
) -> list[AnomalyEvent]:
    """Apply the noise-control rules and return events ranked by impact (suppressed ones last).

    ``reason_at(i, t) -> Text | None`` and ``detectors_at(i, t) -> tuple[str, ...]`` describe a
    peak point; they are called once per event, never per point. ``external_parents`` are events
    of parent slices evaluated elsewhere (another batch) that may inhibit these slices.
    """
    policy = policy or SeverityPolicy()
    n, _t = values.shape
    keys = list(keys) if keys is not None else [{} for _ in range(n)]
    sev = severity.astype(np.int8).copy()
    if policy.escalate_after:
        long_run = run_length(sev >= Severity.WARNING) >= policy.escalate_after
        sev[long_run & (sev == Severity.WARNING)] = Severity.CRITICAL
    abnormal = sev >= policy.minimum
    abnormal &= deviation_mask(values, expected, noise)
    abnormal &= ~mute_mask(timestamps, noise.mute, noise.holidays)[None, :]
    abnormal = keep_runs(abnormal, noise.consecutive)
    dev = np.abs(values - expected)

    events: list[AnomalyEvent] = []
    for i in range(n):
        last_end = -(10**12)
        for a, b in segments(abnormal[i], noise.merge_gap):
            pts = np.flatnonzero(abnormal[i, a : b + 1]) + a
            peak = int(pts[np.argmax(score[i, pts])])
            impact = float(np.nansum(dev[i, pts]))
            suppressed = "cooldown" if a - last_end <= noise.cooldown else None
            if suppressed is None:
                last_end = b
            events.append(
                AnomalyEvent(
                    fingerprint=fingerprint(monitor, keys[i], timestamps[a]),
                    monitor=monitor,
                    slice=dict(keys[i]),
                    series=i,
                    start=timestamps[a],
                    end=timestamps[b],
                    peak=timestamps[peak],
                    peak_value=float(values[i, peak]),
                    peak_expected=float(expected[i, peak]),
                    severity=Severity(int(sev[i, pts].max())),
                    score=float(np.nanmax(score[i, pts])),
                    impact=impact,
                    points=len(pts),
                    reason=reason_at(i, peak) if callable(reason_at) else None,
                    suppressed_by=suppressed,
                    detectors=tuple(detectors_at(i, peak)) if callable(detectors_at) else (),
                )
            )
    if noise.inhibit_children:
        events = _inhibit_children(events, list(external_parents))
    return rank(events)


def _inhibit_children(events: list[AnomalyEvent], external: list[AnomalyEvent]) -> list[AnomalyEvent]:
    parents = [e for e in events + external if e.active]
    out = []
    for e in events:
        if e.active and e.slice:
            for p in parents:
                if (p is not e and _is_parent(p.slice, e.slice) and p.start <= e.end and e.start <= p.end
                        and p.direction == e.direction and p.direction != 0):
                    e = replace(e, suppressed_by=f"parent:{p.fingerprint}")
                    break
        out.append(e)
    return out


def rank(events: Sequence[AnomalyEvent]) -> list[AnomalyEvent]:
    """Active events first, each group by impact (largest first), then severity, then start."""
    return sorted(events, key=lambda e: (not e.active, -e.impact if np.isfinite(e.impact) else 0.0,
                                         -int(e.severity), e.start))
