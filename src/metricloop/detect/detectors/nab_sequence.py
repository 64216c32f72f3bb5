"""``nab_sequence``: a streaming sequence-novelty detector in the spirit of ARTime (NAB's leader).

Idea (from ARTime's published description — Mark Hampton's ARTimeNAB.jl README and the docs of
its public forks — and Carpenter & Grossberg's fuzzy ART; no code was copied): a window of the
recent, downsampled signal is a *pattern*; an adaptive-resonance memory learns the patterns seen
so far as small boxes ("categories"); a pattern far from every learned box is novel. Novelty is
then calibrated per series against its own history, so one threshold serves every series.
Every output at point t uses only points <= t.

Steps, all vectorised over the series of a batch:

1. **Downsample** into blocks of ``step`` points, ``step = warmup // (window * windows_per_warmup)``
   (ARTime ties its sampling to the probation period the same way). A block is represented by its
   point farthest from the running mean of earlier blocks, so a one-point spike survives.
2. **Pattern** of the last ``window`` blocks: the ``window - 1`` differences between consecutive
   blocks and the last block's level. Differences make a pattern comparable wherever it occurs;
   the level keeps "the same wiggle at a never-seen level" novel.
3. **Memory** (fuzzy ART with complement coding reduces to boxes under the L1 norm): up to
   ``categories`` boxes per series. A pattern's *novelty* is its mean L1 distance to the nearest
   box, in units of the series' value range. A pattern is learned ``window`` blocks after it ended
   (so the current pattern is never compared with itself, shifted): it grows its nearest box if
   the grown box stays within ``vigilance`` (mean side, in range units), otherwise it founds a new
   category (replacing the least recently used one when memory is full).
4. **Calibration** (peaks over threshold with a robust scale, cf. Siffer et al., KDD 2017): from
   the middle of the warm-up on, every novelty enters a per-series log-spaced histogram; the score
   is ``log(1 / (1 - q)) + (novelty - Q_q) / max(Q_(q+(1-q)/2) - Q_q, floor)`` with ``Q`` the
   quantiles of the earlier novelties: about the -log tail probability of the novelty. Unlike a
   "worst surprise so far" record, a large earlier anomaly barely moves these quantiles, so the
   next anomaly is not hidden behind it.
5. **Refractory**: a point keeps its score only if it beats the previous ``refractory`` points
   (one alert per burst).

Value range — two modes, both causal:

* **online** (the product; :class:`NabSequenceDetector`): the range is the running max - min of the
  series up to the point;
* **NAB protocol** (``value_range`` given): NAB hands every detector the data file's
  ``inputMin`` / ``inputMax`` (``nab/detectors/base.py`` in github.com/numenta/NAB; HTM and ARTime
  scale their encoders with them). That is knowledge of the whole file, allowed by NAB's published
  rules only; benchmark figures obtained with it must say so. Monitors never have it.

Status (``metricloop bench detect --dataset .../nab --detector nab_sequence``): designed on NAB half
A only, where it scores 74.8 standard (NAB range; default detector 70.4), but on held-out half B it
scores 53.9 at B's own best threshold and 50.1 at A's (default: 67.9 / 64.3) — 63.4 on the full corpus
against the default's 68.6. It does not generalise: it misses anomalies whose shape is ordinary
but whose level or context is wrong (slow drifts, a missing daily jump). It is an experimental
detector, not the recommended NAB detector; the default stays that.

Score scale: a tail score, 0 = unremarkable; ~2.3 = at the 90th percentile of the series' own
novelty history; each further unit of ``(Q95 - Q90)`` adds 1. ``warning`` / ``critical`` are levels
on that scale.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy.signal import lfilter

from metricloop.detect.arrays import beats_previous, ffill
from metricloop.detect.base import Detector, DetectorParams, severity_from_score
from metricloop.detect.registry import register
from metricloop.detect.types import Detection, Direction, FloatArray, SeriesBatch
from metricloop.i18n import Text

#: Rate (per block) of the slow level a pattern is compared with to call it a rise or a drop.
_DIRECTION_RATE = 0.02

#: Log-spaced histogram of novelties (range units) used for the quantiles; bin 0 holds zeros.
_EDGES = np.r_[0.0, np.geomspace(1e-6, 10.0, 281)]


class NabSequenceParams(DetectorParams):
    warning: float = Field(
        3.0, gt=0, description="Tail score that warns (about -log of the novelty's tail probability)."
    )
    critical: float | None = Field(4.5, gt=0, description="Tail score that is critical.")
    warmup: int = Field(
        300,
        ge=16,
        description="Points learned before any score. Under the NAB protocol: the file's probation period.",
    )
    window: int = Field(4, ge=2, le=32, description="Blocks per pattern.")
    windows_per_warmup: int = Field(
        13, ge=1, description="Patterns that fit in the warm-up; sets the block length (step)."
    )
    categories: int = Field(512, ge=8, le=4096, description="Memory size: boxes kept per series.")
    vigilance: float = Field(
        0.005, ge=0, le=1, description="Largest mean side of a box, in units of the value range (0 = points)."
    )
    quantile: float = Field(0.9, gt=0.5, lt=0.99, description="Calibration quantile q of the novelty history.")
    floor: float = Field(
        0.1, gt=0, description="Smallest calibration scale (Q_(q+..) - Q_q), in units of the value range."
    )
    refractory: int = Field(100, ge=1, description="A score must beat the previous N points to stay (one per burst).")
    ema_rate: float = Field(
        0.1, gt=0, le=1, description="Rate of the running block mean that picks each block's point."
    )


TEMPLATES = (
    Text(
        en="{value}: the recent pattern matches nothing this series did before (closest learned pattern "
        "expected {lower} to {upper}; score {score})",
        zh="{value}：最近的走势与该序列以往任何走势都不相符（最相近的已学走势预期 {lower} 至 {upper}；得分 {score}）",
    ),
)


def block_step(warmup: int, window: int, windows_per_warmup: int) -> int:
    """Points per block: ``windows_per_warmup`` patterns of ``window`` blocks fill the warm-up."""
    return max(1, warmup // (window * windows_per_warmup))


def _mean_before(v: FloatArray, rate: float) -> FloatArray:
    """Exponential running mean of the columns before each column (column 0: itself)."""
    out = np.empty_like(v)
    if v.shape[1]:
        run = lfilter([rate], [1.0, rate - 1.0], v, axis=1, zi=(1 - rate) * v[:, :1])[0]
        out[:, 0] = v[:, 0]
        out[:, 1:] = run[:, :-1]
    return out


def downsample(x: FloatArray, step: int, ema_rate: float) -> tuple[FloatArray, np.ndarray]:
    """One representative per full block and the index of each block's last point.

    The representative is the block's point farthest from the running mean of the previous blocks'
    means: a spike inside a block survives downsampling, a flat block gives its level.
    """
    n, t = x.shape
    m = t // step
    blocks = x[:, : m * step].reshape(n, m, step)
    means = blocks.mean(axis=2)
    hi, lo = blocks.max(axis=2), blocks.min(axis=2)
    ema = _mean_before(means, ema_rate)
    rep = np.where(np.abs(hi - ema) >= np.abs(lo - ema), hi, lo)
    ends = np.arange(m) * step + step - 1
    return rep, ends


def patterns(rep: FloatArray, window: int) -> FloatArray:
    """``(n, m - window + 1, window)``: differences of consecutive blocks, then the last level."""
    win = np.lib.stride_tricks.sliding_window_view(rep, window, axis=1)
    return np.concatenate([np.diff(win, axis=2), win[:, :, -1:]], axis=2)


def _quantile(counts: FloatArray, total: FloatArray, q: float) -> FloatArray:
    """Per row, the upper edge of the histogram bin holding quantile ``q``."""
    cum = np.cumsum(counts, axis=1)
    k = np.argmax(cum >= q * total[:, None], axis=1)
    return _EDGES[np.minimum(k + 1, len(_EDGES) - 1)]


def sequence_scores(
    values: FloatArray, params: NabSequenceParams, value_range: FloatArray | None = None
) -> dict[str, FloatArray]:
    """Tail score per point (0 where no pattern ends) plus the closest pattern's band. Causal.

    ``value_range``: ``(n_series, 2)`` min/max per series (the NAB protocol); None estimates the
    range online (running max - min).
    """
    p = params
    raw = np.asarray(values, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw[None, :]
    n, t = raw.shape
    x = ffill(raw)
    if t:  # leading gaps take the first value seen (a series with no value at all: 0)
        first = x[np.arange(n), np.argmax(~np.isnan(x), axis=1)]
        x = np.where(np.isnan(x), np.nan_to_num(first)[:, None], x)
    score = np.zeros((n, t))
    expected = np.full((n, t), np.nan)
    lower = np.full((n, t), np.nan)
    upper = np.full((n, t), np.nan)
    w = p.window
    step = block_step(p.warmup, w, p.windows_per_warmup)
    rep, ends = downsample(x, step, p.ema_rate)
    m = rep.shape[1]
    if m < w + 1:
        return {"score": score, "expected": expected, "lower": lower, "upper": upper}
    feats = patterns(rep, w)  # pattern j ends at block j + w - 1
    pend = ends[w - 1 :]  # point index where each pattern ends
    if value_range is None:
        blk_hi = np.maximum.accumulate(x[:, : m * step].reshape(n, m, step).max(axis=2), axis=1)
        blk_lo = np.minimum.accumulate(x[:, : m * step].reshape(n, m, step).min(axis=2), axis=1)
        span = (blk_hi - blk_lo)[:, w - 1 :]
    else:
        vr = np.asarray(value_range, dtype=np.float64).reshape(n, 2)
        span = np.broadcast_to((vr[:, 1] - vr[:, 0])[:, None], (n, feats.shape[1]))
    level = np.abs(rep[:, w - 1 :])
    span = np.maximum(span, 1e-9 + 1e-6 * level)
    rows = np.arange(n)
    k_max, f_dim = p.categories, w
    box_lo = np.zeros((n, k_max, f_dim))
    box_hi = np.zeros((n, k_max, f_dim))
    used = np.zeros((n, k_max), dtype=bool)
    last_use = np.zeros((n, k_max))
    counts = np.zeros((n, len(_EDGES)))
    q, q2 = p.quantile, p.quantile + (1 - p.quantile) / 2
    base = -np.log(1 - q)
    learn_from, score_from = p.warmup // 2, p.warmup
    tail = np.zeros((n, feats.shape[1]))
    for j in range(feats.shape[1]):
        # learn the pattern that ended `w` blocks ago (never the current one, shifted)
        if j >= w:
            g = feats[:, j - w]
            gap = np.maximum(box_lo - g[:, None, :], 0) + np.maximum(g[:, None, :] - box_hi, 0)
            dist = np.where(used, gap.mean(axis=2), np.inf)
            c = np.argmin(dist, axis=1)
            new_lo = np.minimum(box_lo[rows, c], g)
            new_hi = np.maximum(box_hi[rows, c], g)
            fits = used[rows, c] & ((new_hi - new_lo).mean(axis=1) <= p.vigilance * span[:, j])
            free = np.where(used.all(axis=1), np.argmin(last_use, axis=1), np.argmin(used, axis=1))
            c = np.where(fits, c, free)
            box_lo[rows, c] = np.where(fits[:, None], new_lo, g)
            box_hi[rows, c] = np.where(fits[:, None], new_hi, g)
            used[rows, c] = True
            last_use[rows, c] = j
        if not used.any():
            continue
        f = feats[:, j]
        gap = np.maximum(box_lo - f[:, None, :], 0) + np.maximum(f[:, None, :] - box_hi, 0)
        dist = np.where(used, gap.mean(axis=2), np.inf)
        c = np.argmin(dist, axis=1)
        novelty = np.where(used.any(axis=1), dist[rows, c] / span[:, j], 0.0)
        end = int(pend[j])
        # the closest pattern's box on the last level: the band this pattern expected
        lo_v, hi_v = box_lo[rows, c, -1], box_hi[rows, c, -1]
        expected[:, end], lower[:, end], upper[:, end] = (lo_v + hi_v) / 2, lo_v, hi_v
        if end >= score_from:
            total = counts.sum(axis=1)
            qa = _quantile(counts, total, q)
            qb = _quantile(counts, total, q2)
            scale = np.maximum(qb - qa, p.floor)
            tail[:, j] = np.where(total > 0, np.maximum(base + (novelty - qa) / scale, 0.0), 0.0)
        if end >= learn_from:
            counts[rows, np.searchsorted(_EDGES, novelty, side="right") - 1] += 1
    if p.direction is not Direction.BOTH:
        # a pattern is a rise when its blocks sit above the slow running level before it
        ref = _mean_before(rep, _DIRECTION_RATE)[:, : feats.shape[1]]
        above = np.lib.stride_tricks.sliding_window_view(rep, w, axis=1).mean(axis=2) > ref
        tail = np.where(above if p.direction is Direction.UP else ~above, tail, 0.0)
    score[:, pend] = tail
    score = beats_previous(score, p.refractory)
    score[np.isnan(raw)] = 0.0
    return {"score": score, "expected": ffill(expected), "lower": ffill(lower), "upper": ffill(upper)}


@register
class NabSequenceDetector(Detector):
    """Sequence novelty against an adaptive-resonance memory of the series' own patterns."""

    name = "nab_sequence"
    Params = NabSequenceParams
    title = Text(en="pattern novelty (adaptive resonance)", zh="走势新颖度（自适应共振）")

    def detect(
        self, batch: SeriesBatch, params: DetectorParams, value_range: FloatArray | None = None
    ) -> Detection:
        """``value_range`` (n_series, 2): only under the NAB protocol, see the module docs."""
        assert isinstance(params, NabSequenceParams)
        out = sequence_scores(batch.values, params, value_range)
        score = out["score"] / params.sensitivity
        sev = severity_from_score(
            score / params.warning, 1.0, None if params.critical is None else params.critical / params.warning
        )
        return Detection(
            detector=self.name,
            values=batch.values,
            expected=out["expected"],
            lower=out["lower"],
            upper=out["upper"],
            score=score,
            severity=sev,
            templates=TEMPLATES,
            kind=np.zeros(score.shape, dtype=np.int8),
        )
