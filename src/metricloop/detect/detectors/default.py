"""The default detector: a streaming ensemble that needs no tuning per series.

It is what a monitor uses when nobody chose a detector, and what the NAB benchmark scores.
Every output at point t uses only points <= t (it runs online), and all series of a batch are
processed together, one numpy step per time point.

Four kinds of evidence, each a non-negative "surprise":

* ``point``  — robust z-score of the value against a slowly adapting robust mean/scale
  (residuals clipped before they update, so an incident does not become the baseline);
* ``rarity`` — how rarely the series has visited the value's range before (a running histogram
  over a value grid fixed after the warm-up; -log of the smoothed frequency);
* ``shift``  — how far the mean of the last ``shift_window`` points moved from the mean and
  standard deviation of the ``shift_reference`` points before them;
* ``season`` — the residual against a learned time-of-day (day-of-week for daily data) profile
  on top of the robust mean, when the timestamps have such a cycle.

Calibration without labels: each surprise is divided by the largest surprise the same series
produced before (a maximum that decays with half-life ``record_half_life``), so a ratio above 1
means "more unusual than anything recently seen on this series". That makes one threshold work on
series of any scale and noise level. The ensemble takes the weighted maximum of the ratios,
keeps only points that beat the previous ``refractory`` points (one alert per burst, not one per
point), and maps the ratio r to a score r / (1 + r) in [0, 1): 0.5 means "as unusual as the worst
point of recent history".
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy.ndimage import maximum_filter1d

from metricloop.detect.arrays import ffill
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, FloatArray, SeriesBatch
from metricloop.i18n import Text


class DefaultParams(DetectorParams):
    warning: float = Field(0.52, gt=0, lt=1, description="Score (0..1) that warns.")
    critical: float | None = Field(0.6, gt=0, lt=1, description="Score (0..1) that is critical.")
    warmup: int = Field(300, ge=10, description="Points learned before any score is given.")
    point_alpha: float = Field(0.0002, gt=0, le=1, description="Adaptation rate of the robust mean/scale.")
    point_clip: float = Field(3.0, gt=0, description="Residuals beyond this many scales update clipped.")
    rarity_bins: int = Field(32, ge=4, le=256, description="Histogram bins over the warm-up range.")
    shift_window: int = Field(10, ge=1, description="Recent points whose mean may have shifted.")
    shift_reference: int = Field(300, ge=10, description="Points before them giving the old mean/std.")
    record_half_life: float = Field(6000, gt=0, description="Half-life (points) of the remembered worst surprise.")
    weights: tuple[float, float, float] = Field(
        (1.0, 1.0, 1 / 1.2), description="Weights of the point, rarity and shift evidence."
    )
    refractory: int = Field(20, ge=1, description="A point must beat the previous N scores to stay high.")
    season_weight: float = Field(
        0.8, ge=0, description="Weight of the seasonal evidence (time of day; day of week for daily data). 0 = off."
    )
    season_rate: float = Field(
        0.1, gt=0, le=1, description="How fast the seasonal profile learns, per visit of a slot."
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


def _point_surprise(x: FloatArray, p: DefaultParams) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Signed robust z, and the running mean and scale used for it (state before each point)."""
    n, t = x.shape
    w = min(p.warmup, t)
    head = x[:, : max(w // 3, 1)]
    with np.errstate(all="ignore"):
        m = np.nan_to_num(np.nanmedian(head, axis=1))
        s = np.nan_to_num(1.25 * np.nanmedian(np.abs(head - m[:, None]), axis=1))
        rng = np.nan_to_num(np.nanmax(head, axis=1) - np.nanmin(head, axis=1))
    floor = 0.01 * rng + 1e-9
    z = np.zeros((n, t))
    mean = np.empty((n, t))
    scale = np.empty((n, t))
    a = p.point_alpha
    for i in range(t):
        xi = x[:, i]
        sf = np.maximum(s, floor)
        mean[:, i], scale[:, i] = m, sf
        d = xi - m
        z[:, i] = d / sf
        dc = np.clip(d, -p.point_clip * sf, p.point_clip * sf)
        m = m + a * dc
        s = s + a * (np.abs(dc) - s)
    return z, mean, scale


def seasonal_phase(timestamps: np.ndarray) -> tuple[np.ndarray, int]:
    """Slot of each timestamp in its natural cycle and the cycle length in slots.

    Sub-daily data: time of day in steps of the sampling interval (288 slots for 5-minute data);
    daily data: day of week. Coarser or irregular-beyond-a-day data: no cycle (1 slot). The
    sampling interval is the median spacing of the first points, so it is known at the start.
    """
    ts = np.asarray(timestamps).astype("datetime64[s]")
    if len(ts) < 3:
        return np.zeros(len(ts), dtype=np.int64), 1
    step = int(np.median(np.diff(ts[:50]).astype(np.int64)))
    secs = ts.astype(np.int64)
    if 0 < step < 86400 and 86400 % step == 0:
        return (secs % 86400) // step, 86400 // step
    if step == 86400:
        return (secs // 86400) % 7, 7
    return np.zeros(len(ts), dtype=np.int64), 1


def _seasonal_surprise(
    x: FloatArray, level: FloatArray, scale: FloatArray, phase: np.ndarray, period: int, p: DefaultParams
) -> FloatArray:
    """|x − (level + profile[slot])| / residual scale; the profile learns each slot's offset."""
    n, t = x.shape
    if period <= 1:
        return np.zeros((n, t))
    rows = np.arange(n)
    prof = np.zeros((n, period))
    seen = np.zeros((n, period), dtype=bool)
    sc = scale[:, 0].copy()
    out = np.zeros((n, t))
    g, a = p.season_rate, 0.01
    ph = np.broadcast_to(phase, (n, t)) if phase.ndim == 1 else phase
    for i in range(t):
        k = ph[:, i]
        off = prof[rows, k]
        known = seen[rows, k]
        r = x[:, i] - level[:, i] - off
        sf = np.maximum(sc, 1e-9 + 1e-3 * np.abs(level[:, i]))
        out[:, i] = np.where(known, np.abs(r) / sf, 0.0)
        rc = np.where(known, np.clip(r, -3 * sf, 3 * sf), r)
        prof[rows, k] = off + np.where(known, g, 1.0) * rc
        seen[rows, k] = True
        sc = np.where(known, sc + a * (np.abs(rc) - sc), sc)
    return out


def _rarity_surprise(x: FloatArray, p: DefaultParams) -> FloatArray:
    """-log smoothed frequency of the value's bin among all earlier values."""
    n, t = x.shape
    w = min(max(p.warmup // 2, 1), t)
    with np.errstate(all="ignore"):
        lo = np.nan_to_num(np.nanmin(x[:, :w], axis=1))
        hi = np.nan_to_num(np.nanmax(x[:, :w], axis=1))
    rng = np.maximum(hi - lo, 1e-9)
    b = p.rarity_bins
    start = lo - 0.5 * rng
    width = 2.0 * rng / b
    # bins 1..b cover the grid; 0 and b+1 collect everything below/above it
    idx = np.clip(np.floor((x - start[:, None]) / width[:, None]), -1, b).astype(np.int64) + 1
    counts = np.zeros((n, b + 2))
    total = 0.0
    rows = np.arange(n)
    out = np.zeros((n, t))
    for i in range(t):
        k = idx[:, i]
        out[:, i] = -np.log((counts[rows, k] + 0.5) / (total + 1.0))
        counts[rows, k] += 1.0
        total += 1.0
    return out


def _shift_surprise(x: FloatArray, p: DefaultParams) -> FloatArray:
    """|mean(last w) - mean(previous r)| / std(previous r), from cumulative sums (causal)."""
    n, t = x.shape
    w, r = p.shift_window, p.shift_reference
    c1 = np.zeros((n, t + 1))
    c2 = np.zeros((n, t + 1))
    np.cumsum(x, axis=1, out=c1[:, 1:])
    np.cumsum(x * x, axis=1, out=c2[:, 1:])
    end = np.arange(1, t + 1)  # window ends after point i (exclusive index i+1)
    a = np.maximum(end - w, 0)
    recent = (c1[:, end] - c1[:, a]) / (end - a)
    b0 = np.maximum(a - r, 0)
    cnt = np.maximum(a - b0, 1)
    mu = (c1[:, a] - c1[:, b0]) / cnt
    var = (c2[:, a] - c2[:, b0]) / cnt - mu * mu
    sd = np.sqrt(np.maximum(var, 0.0)) + 1e-9 + 1e-3 * np.abs(mu)
    out = np.abs(recent - mu) / sd
    out[:, (a - b0) < min(r, 20)] = 0.0
    return out


def _record_ratio(f: FloatArray, warmup: int, half_life: float) -> FloatArray:
    """f divided by the decayed maximum of f over earlier points.

    The maximum starts learning halfway through the warm-up (features are valid by then), so
    the first scored points are compared with a meaningful history, not with one point.
    """
    n, t = f.shape
    learn_from = warmup // 2
    decay = 0.5 ** (1.0 / half_life)
    prev = np.zeros(n)
    out = np.zeros((n, t))
    for i in range(t):
        if i > warmup:
            out[:, i] = f[:, i] / (prev + 1e-9)
        if i >= learn_from:
            prev = np.maximum(prev * decay, f[:, i])
    return out


def streaming_scores(
    values: FloatArray, params: DefaultParams, phase: np.ndarray | None = None, period: int = 1
) -> dict[str, FloatArray]:
    """Score in [0, 1) per point plus the pieces (for reasons and bands). Causal.

    ``phase`` (per point, shared ``(n_points,)`` or per series ``(n_series, n_points)``) and
    ``period`` come from :func:`seasonal_phase`; without them there is no seasonal evidence.
    """
    x = ffill(np.asarray(values, dtype=np.float64))
    missing = np.isnan(x)
    x = np.where(missing, np.nanmean(x[:, :1], axis=1, keepdims=True) if x.shape[1] else 0.0, x)
    x = np.nan_to_num(x)
    z, mean, scale = _point_surprise(x, params)
    signed = z.copy()
    if params.direction is Direction.UP:
        z = np.maximum(z, 0.0)
    elif params.direction is Direction.DOWN:
        z = np.minimum(z, 0.0)
    rar = _rarity_surprise(x, params)
    sh = _shift_surprise(x, params)
    wu, hl = params.warmup, params.record_half_life
    point_ratio = _record_ratio(np.abs(z), wu, hl)
    evidence = [
        point_ratio * params.weights[0],
        _record_ratio(rar, wu, hl) * params.weights[1],
        _record_ratio(sh, wu, hl) * params.weights[2],
    ]
    if phase is not None and period > 1 and params.season_weight > 0:
        seas = _seasonal_surprise(x, mean, scale, phase, period, params)
        evidence.append(_record_ratio(seas, wu, hl) * params.season_weight)
    ratios = np.stack(evidence)
    if params.direction is not Direction.BOTH:
        # rarity and shift are not signed: count them only when the value moved the wanted way
        wanted = signed > 0 if params.direction is Direction.UP else signed < 0
        ratios[1:] *= wanted
    which = np.argmax(ratios, axis=0)
    r = np.max(ratios, axis=0)
    k = params.refractory
    if k > 1:
        prev = maximum_filter1d(r, size=k, axis=1, origin=(k - 1) // 2, mode="constant", cval=-np.inf)
        before = np.full_like(r, -np.inf)
        before[:, 1:] = prev[:, :-1]
        r = np.where(r > before, r, 0.0)
    r = r / params.sensitivity
    score = r / (1.0 + r)
    score[np.isnan(np.asarray(values, dtype=np.float64))] = 0.0
    return {"score": score, "expected": mean, "scale": scale, "which": which.astype(np.int8)}


@register
class DefaultDetector(Detector):
    """Streaming ensemble; score in [0, 1), warning/critical are score levels."""

    name = "default"
    Params = DefaultParams
    title = Text(en="automatic (streaming ensemble)", zh="自动（流式集成）")

    def detect(self, batch: SeriesBatch, params: DetectorParams) -> Detection:
        assert isinstance(params, DefaultParams)
        phase, period = seasonal_phase(batch.timestamps)
        out = streaming_scores(batch.values, params, phase, period)
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
