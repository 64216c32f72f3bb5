"""The default detector: a streaming ensemble that needs no tuning per series.

It is what a monitor uses when nobody chose a detector, and what the NAB benchmark scores.
Every output at point t uses only points <= t (it runs online), and all series of a batch are
processed together, one numpy step per time point.

First a seasonal baseline (:func:`seasonal_model`): a robust level plus a profile per slot of the
week (hour of week for sub-daily data, day of week for daily data) that backs off to the slot of
the day until a weekly slot has been seen twice, with a robust residual scale per slot (nights
are quieter than days). Its residual is one piece of evidence; the value *minus the learned
seasonal offset* feeds the others, so a Monday-morning peak or a quiet weekend is not
"unusual" to them. On series without a cycle the offsets stay near 0 and nothing changes.

Four kinds of evidence, each a non-negative "surprise":

* ``point``  — robust z-score of the deseasonalised value against a slowly adapting robust
  mean/scale (residuals clipped before they update, so an incident does not become the baseline);
* ``rarity`` — how rarely the series has visited the deseasonalised value's range before (a
  running histogram over a grid fixed by the first half of the warm-up; -log of the smoothed
  frequency);
* ``shift``  — how far the mean of the last ``shift_window`` deseasonalised points moved from the
  mean and standard deviation of the ``shift_reference`` points before them;
* ``season`` — the residual against the seasonal baseline, in its slot's robust scale.

Calibration without labels: each surprise is divided by the largest surprise the same series
produced before (a maximum that decays with half-life ``record_half_life``), so a ratio above 1
means "more unusual than anything recently seen on this series". That makes one threshold work on
series of any scale and noise level. ``record_floor`` keeps the denominator at least that many
times the surprise's long-run mean, so that in a calm history a merely mild point cannot be a
"record". ``record_step`` limits how far one new worst surprise raises the record (1.6x the bar
it beat), so a huge incident does not hide the next, smaller one (NAB design half A: 70.4 -> 71.5;
held-out half B 67.9 -> 68.7; business-series F1 at ``warning`` 0.472 -> 0.481).
By default each point of an ongoing incident may raise it by that step, so a long incident
teaches the series such values happen; ``record_step_per: incident`` limits the whole incident
instead (business-series F1 at ``warning`` 0.481/0.466 -> 0.545/0.537 on seeds 1/2, but NAB
70.7 -> 62.3: spiky series then repeat their alerts). A monitor that names no detector uses
it (``monitor.MONITOR_DEFAULT_PARAMS``).

The ensemble takes the weighted maximum of the ratios, keeps only points that beat the previous
``refractory`` points (one alert per burst, not one per point), and maps the ratio r to
a score r / (1 + r) in [0, 1): 0.5 means "as unusual as the worst point of recent history".

Warm-up (``warmup`` points, capped by :func:`effective_warmup`): the first half
(:func:`head_length`) gives the robust starting level, scale and the rarity grid; the records are
learned over the second half; scores start after it. Every statistic a score uses was computed from
earlier points only.

Scores and thresholds: the score is a calibrated ratio, so a threshold is a statement about it,
s = r / (1 + r) with r the surprise relative to the worst recent one:

* ~0.51 (r ~ 1.04, "a new record"): the best threshold on NAB, whose cost model charges a false
  alarm 0.11 of a missed window and rewards early detection — recall first;
* 0.55, ``warning`` (r = 1.22): the product level, chosen on business-like series where a false
  alarm costs as much as a missed incident (event-level F1, ``bench/detect.py::business_series``);
* 0.6, ``critical`` (r = 1.5).

The NAB benchmark reports both the corpus-optimal threshold (NAB's own protocol, how every
published score was computed) and the score at ``warning``; they differ by the cost of a false
alarm, not by a calibration error, so one number cannot serve both.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import numpy as np
from pydantic import Field

from metricloop.detect.arrays import beats_previous, ffill
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import BoolArray, Detection, Direction, FloatArray, SeriesBatch
from metricloop.i18n import Text


class DefaultParams(DetectorParams):
    warning: float = Field(
        0.55,
        gt=0,
        lt=1,
        description="Score (0..1) that warns: 0.55 = 22 % more unusual than the worst recent point "
        "(see 'Scores and thresholds' in the module docs).",
    )
    critical: float | None = Field(
        0.6, gt=0, lt=1, description="Score (0..1) that is critical: 50 % more unusual than the worst recent point."
    )
    warmup: int = Field(
        300,
        ge=10,
        description="Points learned before any score is given (at most 4 seasonal cycles, at least 30: "
        "a daily metric starts after 30 days, not 300). The first half starts the baselines; the "
        "worst-surprise records are learned over the second half.",
    )
    point_alpha: float = Field(0.0002, gt=0, le=1, description="Adaptation rate of the robust mean/scale.")
    point_clip: float = Field(3.0, gt=0, description="Residuals beyond this many scales update clipped.")
    rarity_bins: int = Field(32, ge=4, le=256, description="Histogram bins over the warm-up range.")
    shift_window: int = Field(10, ge=1, description="Recent points whose mean may have shifted.")
    shift_reference: int = Field(300, ge=10, description="Points before them giving the old mean/std.")
    record_half_life: float = Field(6000, gt=0, description="Half-life (points) of the remembered worst surprise.")
    record_step: float | None = Field(
        1.6,
        gt=1,
        description="Once scoring, a new worst surprise raises the remembered one at most this many "
        "times (None = no limit): a huge incident does not hide the next, smaller one.",
    )
    record_step_per: Literal["point", "incident"] = Field(
        "point",
        description="What record_step limits. 'point': each point of an ongoing incident may raise the "
        "remembered worst surprise by the step, so a long incident teaches the series that such values "
        "happen (fewer repeat alerts; the NAB-best choice). 'incident': a whole incident raises it at most "
        "record_step times the bar in place before it began, so the series stays sensitive after a long "
        "outage (more incidents caught on business KPIs, more repeats on spiky series).",
    )
    record_floor: float = Field(
        3.0,
        ge=0,
        description="A surprise must also exceed this many times its long-run mean to reach ratio 1 (0 = off).",
    )
    weights: tuple[float, float, float] = Field(
        (1.0, 1.0, 1 / 1.2), description="Weights of the point, rarity and shift evidence."
    )
    refractory: int = Field(
        100,
        ge=1,
        description="A point must beat the previous N scores to stay high: one alert per burst, not one per "
        "wave of the same incident.",
    )
    season_weight: float = Field(
        0.8, ge=0, description="Weight of the seasonal residual evidence. 0 = no seasonal evidence."
    )
    season_rate: float = Field(
        0.1, gt=0, le=1, description="How fast the seasonal profile learns, per visit of a slot."
    )
    season_level_rate: float = Field(
        0.002, gt=0, le=1, description="How fast the seasonal baseline's level follows the data, per point."
    )
    deseasonalise: bool = Field(
        True, description="Feed the value minus its learned seasonal offset to the other evidence."
    )


TEMPLATES = (
    Text(en="{value} is the most unusual value in recent history (expected about {expected}, score {score})",
         zh="{value} 是近期最反常的取值（预期约 {expected}，得分 {score}）"),
    Text(en="{value} is in a range this series has rarely visited (expected about {expected}, score {score})",
         zh="{value} 处于该序列极少出现的区间（预期约 {expected}，得分 {score}）"),
    Text(en="the level shifted: recent points moved away from about {expected} (score {score})",
         zh="水平发生突变：最近的点偏离了约 {expected} 的水平（得分 {score}）"),
    Text(en="{value} is unusual for this time of day/week (score {score})",
         zh="{value} 与往常同一时段的表现不符（得分 {score}）"),
)


def head_length(warmup: int) -> int:
    """Points whose robust statistics start the baselines (and after which records are learned)."""
    return max(warmup // 2, 1)


def _learned(x: FloatArray, learn: BoolArray | None) -> FloatArray:
    """``x`` with the points that must not teach a baseline blanked (NaN), for start-up statistics."""
    return x if learn is None else np.where(learn, x, np.nan)


def _rates(learn: BoolArray | None) -> FloatArray | None:
    """Time-major 1.0/0.0 per point: multiplies every learning rate (0 = the point teaches nothing)."""
    return None if learn is None else np.ascontiguousarray(learn.T, dtype=np.float64)


def _point_surprise(
    x: FloatArray, p: DefaultParams, learn: BoolArray | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Signed robust z, and the running mean and scale used for it (state before each point)."""
    n, t = x.shape
    w = min(p.warmup, t)
    head = _learned(x, learn)[:, : head_length(w)]
    with np.errstate(all="ignore"):
        m = np.nan_to_num(np.nanmedian(head, axis=1))
        s = np.nan_to_num(1.25 * np.nanmedian(np.abs(head - m[:, None]), axis=1))
        rng = np.nan_to_num(np.nanmax(head, axis=1) - np.nanmin(head, axis=1))
    floor = 0.01 * rng + 1e-9
    # time-major copies: each step reads/writes one contiguous row instead of a strided column
    xt = np.ascontiguousarray(x.T)
    z = np.empty((t, n))
    mean = np.empty((t, n))
    scale = np.empty((t, n))
    lr = _rates(learn)
    for i in range(t):
        a = p.point_alpha if lr is None else p.point_alpha * lr[i]
        sf = np.maximum(s, floor)
        mean[i], scale[i] = m, sf
        d = xt[i] - m
        z[i] = d / sf
        dc = np.clip(d, -p.point_clip * sf, p.point_clip * sf)
        m = m + a * dc
        s = s + a * (np.abs(dc) - s)
    return z.T, mean.T, scale.T


def seasonal_phase(timestamps: np.ndarray) -> tuple[np.ndarray, int]:
    """Slot of each timestamp in its week and the number of slots per week.

    Sub-daily data: hour of week (168 slots; 5-minute points share their hour's slot, so a slot
    is learned from many points), or step of week when the step is a divisor of a day longer than
    an hour; daily data: day of week (7). Coarser or irregular-beyond-a-day data: no cycle
    (1 slot). Slot 0 is Monday 00:00 (UTC clock of the timestamps). The sampling interval is the
    median spacing of the first points, so it is known at the start.
    """
    ts = np.asarray(timestamps).astype("datetime64[s]")
    if len(ts) < 3:
        return np.zeros(len(ts), dtype=np.int64), 1
    step = int(np.median(np.diff(ts[:50]).astype(np.int64)))
    secs = ts.astype(np.int64)
    weekday = (secs // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    if 0 < step <= 3600 and 3600 % step == 0:
        return weekday * 24 + (secs % 86400) // 3600, 168
    if 3600 < step < 86400 and 86400 % step == 0:
        per_day = 86400 // step
        return weekday * per_day + (secs % 86400) // step, 7 * per_day
    if step == 86400:
        return weekday, 7
    return np.zeros(len(ts), dtype=np.int64), 1


def _day_slots(period: int) -> int:
    """Slots per day of a weekly cycle of ``period`` slots (1 when there is no daily cycle)."""
    return period // 7 if period >= 14 and period % 7 == 0 else 1


def seasonal_model(
    x: FloatArray,
    phase: np.ndarray | None,
    period: int,
    p: DefaultParams,
    warmup: int,
    learn: BoolArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Causal seasonal baseline: ``(expected, scale, offset)`` per point, state before the point.

    expected = level + offset[slot of week]; a weekly slot not seen yet borrows the offset of its
    slot of the day (a new series is useful after a day, and knows its weekends after a week).
    Each slot keeps a robust scale of its residuals, never below a quarter of the series-wide
    scale. Residuals are clipped at ``point_clip`` scales before they update
    anything, so an incident barely moves the baseline; points outside ``learn`` move nothing.
    """
    n, t = x.shape
    rows = np.arange(n)
    head = _learned(x, learn)[:, : head_length(min(warmup, t))]
    level = np.nanmedian(head, axis=1)
    spread = 1.25 * np.nanmedian(np.abs(head - level[:, None]), axis=1)
    floor = 0.01 * (np.nanmax(head, axis=1) - np.nanmin(head, axis=1)) + 1e-9
    spread = np.maximum(spread, floor)
    xt = np.ascontiguousarray(x.T)  # time-major, see _point_surprise
    expected = np.empty((t, n))
    scale = np.empty((t, n))
    offset = np.empty((t, n))
    if phase is None or period <= 1:
        phase, period = np.zeros(t, dtype=np.int64), 1
    per_day = _day_slots(period)
    week = np.broadcast_to(phase, (n, t))
    day = week % per_day
    wk_off = np.zeros((n, period))
    wk_sc = np.zeros((n, period))
    wk_n = np.zeros((n, period))
    dy_off = np.zeros((n, per_day))
    dy_sc = np.zeros((n, per_day))
    dy_n = np.zeros((n, per_day))
    g, a, c = p.season_rate, p.season_level_rate, p.point_clip
    shared = np.ndim(phase) == 1
    lr = _rates(learn)
    for i in range(t):
        k = 1.0 if lr is None else lr[i]
        if shared:  # one slot for every series: plain column views, much faster than fancy indexing
            kw: slice | tuple[np.ndarray, np.ndarray] = (slice(None), int(week[0, i]))  # type: ignore[assignment]
            kd: slice | tuple[np.ndarray, np.ndarray] = (slice(None), int(day[0, i]))  # type: ignore[assignment]
        else:
            kw, kd = (rows, week[:, i]), (rows, day[:, i])
        nw, nd = wk_n[kw], dy_n[kd]
        use_w, use_d = nw >= 1, nd >= 1
        off = np.where(use_w, wk_off[kw], np.where(use_d, dy_off[kd], 0.0))
        sc = np.where(use_w, wk_sc[kw], np.where(use_d, dy_sc[kd], spread))
        sc = np.maximum(np.maximum(sc, 0.25 * spread), floor)
        e = level + off
        expected[i], scale[i], offset[i] = e, sc, off
        r = np.clip(xt[i] - e, -c * sc, c * sc)
        target, dev = off + r, np.abs(r)
        gw, gd = np.where(nw > 0, g, 1.0) * k, np.where(nd > 0, g, 1.0) * k
        wk_off[kw] += gw * (target - wk_off[kw])
        dy_off[kd] += gd * (target - dy_off[kd])
        wk_sc[kw] = np.where(nw > 0, wk_sc[kw] + g * k * (dev - wk_sc[kw]), spread)  # unseen slot: count stays 0
        dy_sc[kd] = np.where(nd > 0, dy_sc[kd] + g * k * (dev - dy_sc[kd]), spread)
        wk_n[kw] += k
        dy_n[kd] += k
        level = level + a * k * r
        spread = spread + 5 * a * k * (dev - spread)
    return expected.T, scale.T, offset.T


def _rarity_surprise(x: FloatArray, p: DefaultParams, learn: BoolArray | None = None) -> FloatArray:
    """-log smoothed frequency of the value's bin among all earlier (learned) values."""
    n, t = x.shape
    w = min(head_length(p.warmup), t)
    head = _learned(x, learn)[:, :w]
    with np.errstate(all="ignore"):
        lo = np.nan_to_num(np.nanmin(head, axis=1))
        hi = np.nan_to_num(np.nanmax(head, axis=1))
    rng = np.maximum(hi - lo, 1e-9)
    b = p.rarity_bins
    start = lo - 0.5 * rng
    width = 2.0 * rng / b
    # bins 1..b cover the grid; 0 and b+1 collect everything below/above it
    idx = np.clip(np.floor((x - start[:, None]) / width[:, None]), -1, b).astype(np.int64) + 1
    idx_t = np.ascontiguousarray(idx.T)  # time-major
    counts = np.zeros((n, b + 2))
    rows = np.arange(n)
    seen_before = np.empty((t, n))
    lr = _rates(learn)
    for i in range(t):
        k = idx_t[i]
        seen_before[i] = counts[rows, k]
        counts[rows, k] += 1.0 if lr is None else lr[i]
    total = np.arange(t, dtype=np.float64)[:, None] if lr is None else np.cumsum(lr, axis=0) - lr
    out: FloatArray = -np.log((seen_before + 0.5) / (total + 1.0))
    out[:w] = 0.0  # the grid is fixed from these points: no surprise before it exists (causal)
    return out.T


def _shift_surprise(x: FloatArray, p: DefaultParams, learn: BoolArray | None = None) -> FloatArray:
    """|mean(last w) - mean(previous r)| / std(previous r), from cumulative sums (causal).

    The reference statistics use the learned points of the previous r only (a confirmed
    incident is not the level a later shift is measured from); the recent mean uses every point.
    """
    n, t = x.shape
    w, r = p.shift_window, p.shift_reference
    pad = w + r  # leading zeros: a window reaching before the start sums what exists (cumsum 0)

    def cumulative(v: FloatArray) -> FloatArray:
        c = np.zeros((n, pad + t + 1))
        np.cumsum(v, axis=1, out=c[:, pad + 1 :])
        return c

    c1 = cumulative(x)
    keep = None if learn is None else learn.astype(np.float64)
    k1 = c1 if keep is None else cumulative(x * keep)
    k2 = cumulative(x * x if keep is None else x * x * keep)
    end = np.arange(1, t + 1)  # the recent window ends after point i (exclusive index i + 1)
    hi, mid, lo = slice(pad + 1, pad + t + 1), slice(pad + 1 - w, pad + t + 1 - w), slice(1, t + 1)
    recent = (c1[:, hi] - c1[:, mid]) / np.minimum(end, w)
    if keep is None:
        n_ref = np.broadcast_to(np.minimum(np.maximum(end - w, 0), r), (n, t))
    else:
        kc = cumulative(keep)
        n_ref = kc[:, mid] - kc[:, lo]
    cnt = np.maximum(n_ref, 1)
    mu = (k1[:, mid] - k1[:, lo]) / cnt
    var = (k2[:, mid] - k2[:, lo]) / cnt - mu * mu
    sd = np.sqrt(np.maximum(var, 0.0)) + 1e-9 + 1e-3 * np.abs(mu)
    out: FloatArray = np.abs(recent - mu) / sd
    out[n_ref < min(r, 20)] = 0.0
    return out


def _record_ratio(
    f: FloatArray,
    warmup: int,
    half_life: float,
    floor: float = 0.0,
    step: float | None = None,
    per_incident: bool = False,
    learn: BoolArray | None = None,
) -> FloatArray:
    """f divided by the decayed maximum of f over earlier points (and by ``floor`` x its mean).

    The maximum starts learning halfway through the warm-up (features are valid by then), so
    the first scored points are compared with a meaningful history, not with one point. Once
    scoring, a new maximum raises the record by at most ``step`` times the bar it was scored
    against: one huge incident does not blind the series to the next, smaller one. A sustained
    incident still lifts the record geometrically, point by point, unless ``per_incident``: then
    the bar is the one in place before the run of points above it began. Points outside
    ``learn`` (confirmed anomalies, holidays) raise a record that lasts only while they last (one
    alert per incident, as without them) and is forgotten at the next learned point.
    """
    n, t = f.shape
    learn_from = head_length(warmup)
    decay = 0.5 ** (1.0 / half_life)
    ft = np.ascontiguousarray(f.T)  # time-major
    prev = np.zeros(n)
    live = np.zeros(n)  # the record inside a run of points outside ``learn``; 0 elsewhere
    total = np.zeros(n)  # sum of f since learn_from, for the floor (a long-run mean)
    seen: float | FloatArray = 0.0  # points in that sum
    before = np.zeros(n)  # per_incident: the bar before the current run of points above it
    out = np.zeros((t, n))
    lr = _rates(learn)
    for i in range(t):
        value = ft[i]
        if i >= warmup:
            record = prev if lr is None else np.maximum(prev, live)
            denom = np.maximum(record, total * (floor / np.maximum(seen, 1.0))) if floor > 0 else record
            out[i] = value / (denom + 1e-9)
            if step is not None:
                bar = denom
                if per_incident:
                    before = np.where((value <= before) | (before <= 0), denom, before)
                    bar = before
                value = np.where(denom > 0, np.minimum(value, step * bar), value)  # no bar yet: learn it
        if i >= learn_from:
            k = 1.0 if lr is None else lr[i]
            if lr is not None:
                live = np.where(k > 0, 0.0, np.maximum(np.maximum(live, prev) * decay, value))
            prev = np.maximum(prev * decay, value * k)  # surprises are >= 0: a masked point adds 0
            total += value * k
            seen = seen + k
    return out.T


def effective_warmup(p: DefaultParams, period: int) -> int:
    """``warmup`` capped at 4 weekly cycles (never below 30 points): daily data starts after a month."""
    return int(min(p.warmup, max(30, 4 * period)))


def streaming_scores(
    values: FloatArray,
    params: DefaultParams,
    phase: np.ndarray | None = None,
    period: int = 1,
    learn: BoolArray | None = None,
) -> dict[str, np.ndarray]:
    """Score in [0, 1) per point plus the pieces (for reasons and bands). Causal.

    ``phase`` (per point, shared ``(n_points,)`` or per series ``(n_series, n_points)``) and
    ``period`` come from :func:`seasonal_phase`; without them there is no seasonal evidence.
    ``learn`` (same shape as ``values``, default all True) says which points may teach the
    baselines and records: a confirmed incident or a holiday is scored but does not become
    "normal", nor the worst surprise the next incident must beat.
    """
    raw = np.asarray(values, dtype=np.float64)
    x = ffill(raw)
    if x.shape[1]:
        x = np.where(np.isnan(x), np.nanmean(x[:, :1], axis=1, keepdims=True), x)
    x = np.nan_to_num(x)
    seasonal = phase is not None and period > 1 and params.season_weight > 0
    wu = effective_warmup(params, period if seasonal else 1)
    p = params.model_copy(update={"warmup": wu})
    if learn is not None:
        learn = np.asarray(learn, dtype=bool)
        if learn.all():
            learn = None
    expected, scale, offset = seasonal_model(
        x, phase if seasonal else None, period if seasonal else 1, p, wu, learn
    )
    xd = x - offset if params.deseasonalise else x
    z, _, _ = _point_surprise(xd, p, learn)
    signed = (x - expected) / scale if seasonal else z
    if params.direction is Direction.UP:
        z = np.maximum(z, 0.0)
    elif params.direction is Direction.DOWN:
        z = np.minimum(z, 0.0)
    to_record = partial(
        _record_ratio,
        warmup=wu,
        half_life=params.record_half_life,
        floor=params.record_floor,
        step=params.record_step,
        per_incident=params.record_step_per == "incident",
        learn=learn,
    )
    evidence = [
        to_record(np.abs(z)) * params.weights[0],
        to_record(_rarity_surprise(xd, p, learn)) * params.weights[1],
        to_record(_shift_surprise(xd, p, learn)) * params.weights[2],
    ]
    if seasonal:
        season = np.abs(signed)
        if params.direction is Direction.UP:
            season = np.where(signed > 0, season, 0.0)
        elif params.direction is Direction.DOWN:
            season = np.where(signed < 0, season, 0.0)
        evidence.append(to_record(season) * params.season_weight)
    if params.direction is not Direction.BOTH:
        # rarity and shift are not signed: count them only when the value moved the wanted way
        wanted = signed > 0 if params.direction is Direction.UP else signed < 0
        evidence[1] = evidence[1] * wanted
        evidence[2] = evidence[2] * wanted
    r = evidence[0]
    which = np.zeros(r.shape, dtype=np.int8)
    for kind, ratio in enumerate(evidence[1:], start=1):
        better = ratio > r
        which[better] = kind
        r = np.where(better, ratio, r)
    r = beats_previous(r, params.refractory) / params.sensitivity
    score = r / (1.0 + r)
    score[np.isnan(raw)] = 0.0
    return {"score": score, "expected": expected, "scale": scale, "which": which}


@register
class DefaultDetector(Detector):
    """Streaming ensemble; score in [0, 1), warning/critical are score levels."""

    name = "default"
    Params = DefaultParams
    title = Text(en="automatic (streaming ensemble)", zh="自动（流式集成）")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, DefaultParams)
        phase, period = seasonal_phase(batch.timestamps)
        learn = None if batch.known_anomalies is None else ~np.asarray(batch.known_anomalies, dtype=bool)
        out = streaming_scores(batch.values, params, phase, period, learn)
        score = out["score"]
        exp, scl = out["expected"], out["scale"]
        half = 3.0 * params.sensitivity * scl
        sev = severity_from_score(score / params.warning, 1.0, None if params.critical is None
                                  else params.critical / params.warning)
        return Detection(
            detector=self.name,
            values=batch.values,
            expected=exp,
            lower=exp - half,
            upper=exp + half,
            score=score,
            severity=sev,
            templates=TEMPLATES,
            kind=out["which"].astype(np.int8),
        )
