"""How much a leaf moves by chance, given its size; and pooling leaves too small to tell.

Real business data is not one noise level: a province x channel x category leaf with two orders in
a few hours swings by 100 % on its own, a leaf with ten thousand sessions by a few percent. Judging
every leaf's relative deviation against one noise scale either drowns the big leaves' real moves in
the small leaves' noise, or flags every small leaf. So:

1. :func:`noise_profile` estimates a leaf's noise from leaves *of similar size*: leaves are sorted
   by volume and cut into bins; each bin's robust scale of the relative deviation is taken and
   ``base² + per_unit / volume`` is fitted through them (proportional noise plus counting
   noise). With counts the deviations are discrete (two orders vs one) and quantile estimates
   collapse, so a bin where many leaves did not move at all uses the root mean square instead
   (small leaves cannot deviate by more than the bounded ``±2``, so it stays robust), and sets
   a floor for labelling leaves of that size.
2. :func:`pooled_noise` gives the noise of coarser leaves (sums of leaves) from the leaves' own,
   assuming independent leaves: variances add.
3. :func:`choose_grain` pools: while most of the volume sits in leaves that could not tell a
   halving from noise, it sums the leaves over the dimension whose values moved least beyond
   their noise (chi-square over the dimension's values), and tries again. Dimensions implied by
   another (``region`` by ``province``) split nothing and are never dropped on their own.

Dense data (every leaf large, or noise proportional to size as in the Squeeze benchmark) is left
as it is: every bin gets the same scale and no dimension is pooled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from scipy.stats import chi2

from metricloop.explain.frame import LeafTable, safe_ratio

MIN_BIN = 50
"""Leaves per volume bin: enough for a quartile to mean something."""
MAX_BINS = 8


def leaf_deviation(table: LeafTable) -> tuple[np.ndarray, np.ndarray]:
    """Relative deviation ``2(a-e)/(|a|+|e|)`` in [-2, 2] per leaf, and which leaves carry information.

    Symmetric and bounded, so a leaf that drops to zero (-2) or appears from zero (+2) is
    comparable with a 10 % dip. For a ratio metric the leaf's rate is compared; a leaf with no
    denominator in either period says nothing about the rate.
    """
    if table.kind == "ratio":
        _ad, _ed = table.dens()
        informative = (_ad != 0) & (_ed != 0)
        a = safe_ratio(table.actual, _ad)
        e = safe_ratio(table.expected, _ed)
    else:
        a, e = table.actual, table.expected
        informative = (a != 0) | (e != 0)
    scale = np.abs(a) + np.abs(e)
    dev = np.zeros(table.size, dtype=float)
    np.divide(2.0 * (a - e), scale, out=dev, where=informative & (scale > 0))
    return dev, informative & (scale > 0)


def noise_scale(dev: np.ndarray) -> float:
    """Noise level of the normal leaves' deviations, robust to a majority of abnormal leaves.

    Start from the lower quartile of ``|dev|`` (for Gaussian noise q25(|z|) = 0.3186 σ), which
    stays in the normal cluster while up to ~75 % of leaves are abnormal, then refine by sigma
    clipping with the MAD of the leaves within 5 σ.
    """
    a = np.abs(dev)
    if a.size == 0:
        return 0.0
    sigma = float(np.quantile(a, 0.25)) / 0.3186
    for _ in range(5):
        inside = a[a <= 5 * sigma] if sigma > 0 else a[a == 0]
        if inside.size == 0:
            break
        new = float(np.median(inside)) / 0.6745
        if abs(new - sigma) <= 1e-9:
            break
        sigma = new
    return sigma


def _bin_scale(dev: np.ndarray) -> tuple[float, float]:
    """(spread, floor) of one bin: the deviations' scale, and for small counts a floor for labels.

    Counts of a few units show up as many leaves that did not move at all (1 → 1) and as leaves
    that appear from or vanish to zero *in both directions* (0 → 1, 1 → 0); a real drop to zero
    goes one way only, so it does not make a bin of large leaves look discrete. In such a bin the
    root mean square is the honest spread (quartiles collapse onto the many zeros), but the
    noise is far from Gaussian: most leaves stay put and the others jump by a whole unit. The
    floor is the typical size of those jumps, so a leaf of this size that moves by one unit is
    not mistaken for an anomaly.
    """
    if dev.size == 0:
        return 0.0, 0.0
    unchanged = float(np.mean(dev == 0))
    both_ways = 2 * min(float(np.mean(dev >= 2 - 1e-12)), float(np.mean(dev <= -2 + 1e-12)))
    if unchanged + both_ways <= 0.25:
        scale = noise_scale(dev)
        return scale, 0.0
    spread = float(np.sqrt(np.mean(dev**2)))
    moved = dev[dev != 0]
    return spread, max(spread, noise_scale(moved)) if moved.size else spread


def _decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares fit of a non-increasing sequence (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([float(v), float(w), 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(int(c), m) for m, _, c in blocks])


def _log(volume: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(volume, 1e-300))


@dataclass(frozen=True)
class NoiseProfile:
    """Relative noise as a function of a leaf's volume ``v``: ``spread(v)² = base² + per_unit / v``.

    ``base`` is noise proportional to size (a forecast's error, a province's day-to-day swing),
    ``per_unit / v`` the counting noise that shrinks as a leaf grows (Poisson-like); both are fitted
    to the volume bins' spreads, so the profile extends to pooled leaves bigger than any leaf.
    ``floor`` (per bin, non-increasing, 0 outside the small-count range) is the smallest noise a
    leaf of that size is labelled against.
    """

    base: float
    per_unit: float
    log_volume: np.ndarray
    floor: np.ndarray

    def spread_at(self, volume: np.ndarray) -> np.ndarray:
        v = np.maximum(np.asarray(volume, dtype=float), 1e-12)
        return np.sqrt(self.base**2 + self.per_unit / v)

    def floor_at(self, volume: np.ndarray) -> np.ndarray:
        if not np.any(self.floor > 0):
            return np.zeros(np.shape(volume), dtype=float)
        return np.interp(_log(volume), self.log_volume, self.floor, right=0.0)

    def label_scale(self, volume: np.ndarray) -> np.ndarray:
        """The noise a leaf of this volume is labelled against."""
        return np.maximum(self.spread_at(volume), self.floor_at(volume))


def _fit(spread: np.ndarray, volume: np.ndarray, sizes: np.ndarray, discrete: np.ndarray) -> tuple[float, float]:
    """``(base, per_unit)`` from the bins' spreads: non-negative least squares on relative errors.

    With a single bin the two cannot be told apart: small counts are taken as counting noise,
    anything else as proportional noise.
    """
    if len(spread) == 1:
        if discrete[0]:
            return 0.0, float(spread[0] ** 2 * volume[0])
        return float(spread[0]), 0.0
    w = np.sqrt(sizes) / np.maximum(spread**2, 1e-24)
    design = np.column_stack([np.ones_like(volume), 1.0 / np.maximum(volume, 1e-12)]) * w[:, None]
    (b2, per_unit), _ = nnls(design, spread**2 * w)
    return float(np.sqrt(b2)), float(per_unit)


def noise_profile(table: LeafTable) -> NoiseProfile:
    """The noise profile fitted to the informative leaves, cut into bins by volume."""
    dev, informative = leaf_deviation(table)
    idx = np.flatnonzero(informative)
    if idx.size == 0:
        return NoiseProfile(0.0, 0.0, np.zeros(1), np.zeros(1))
    volume = table.volume()
    n_bins = max(1, min(MAX_BINS, idx.size // MIN_BIN))
    order = idx[np.argsort(volume[idx], kind="stable")]
    chunks = np.array_split(order, n_bins)
    scales = np.array([_bin_scale(dev[c]) for c in chunks])  # (spread, floor) per bin
    sizes = np.array([len(c) for c in chunks], dtype=float)
    centers = np.array([float(np.median(volume[c])) for c in chunks])
    base, per_unit = _fit(scales[:, 0], centers, sizes, scales[:, 1] > 0)
    return NoiseProfile(base, per_unit, _log(centers), _decreasing(scales[:, 1], sizes))


def leaf_noise(table: LeafTable) -> np.ndarray:
    """Each leaf's noise scale of its relative deviation, judged among leaves of similar volume."""
    return noise_profile(table).label_scale(table.volume())


def _level(table: LeafTable) -> np.ndarray:
    """What the relative deviation is relative to: the mean of the two values (rates for a ratio)."""
    if table.kind == "ratio":
        ad, ed = table.dens()
        return (np.abs(safe_ratio(table.actual, ad)) + np.abs(safe_ratio(table.expected, ed))) / 2
    return (np.abs(table.actual) + np.abs(table.expected)) / 2


def _pooled_sd(table: LeafTable, sigma: np.ndarray, inverse: np.ndarray, n: int) -> np.ndarray:
    """Absolute noise (standard deviation) of each group's value: independent leaves' variances add.

    Additive: the group's value is the sum of its leaves. Ratio: the group's rate is the
    denominator-weighted mean of its leaves' rates.
    """
    level = _level(table)
    var = (sigma * level) ** 2
    if table.kind == "ratio":
        ad, ed = table.dens()
        w = (np.abs(ad) + np.abs(ed)) / 2
        wsum = np.bincount(inverse, weights=w, minlength=n)
        share = np.divide(w, wsum[inverse], out=np.zeros_like(w), where=wsum[inverse] > 0)
        var = share**2 * var
    return np.sqrt(np.bincount(inverse, weights=var, minlength=n))


def pooled_noise(table: LeafTable, sigma: np.ndarray, pooled: LeafTable, inverse: np.ndarray) -> np.ndarray:
    """Relative noise of the pooled leaves, from the leaves' noise (see :func:`_pooled_sd`)."""
    sd = _pooled_sd(table, sigma, inverse, pooled.size)
    level = _level(pooled)
    out = np.divide(sd, level, out=np.zeros_like(sd), where=level > 0)
    return out


def dimension_evidence(table: LeafTable, sigma: np.ndarray) -> np.ndarray:
    """Per dimension, how surely its values moved differently from each other (−log p, chi-square).

    Each value's deviation from the overall relative change, in units of its pooled noise; the
    overall change is taken out so that a dimension is not "significant" merely because the
    total moved.
    """
    out = np.zeros(len(table.dims))
    if table.kind == "ratio":
        ad, ed = table.dens()
        ra_t = float(safe_ratio(table.actual.sum(), ad.sum()))
        re_t = float(safe_ratio(table.expected.sum(), ed.sum()))
    else:
        ra_t, re_t = float(table.actual.sum()), float(table.expected.sum())
    trend = ra_t / re_t if re_t else 1.0
    for j in range(len(table.dims)):
        inv, codes = table.cuboid_index((j,))
        n = len(codes)
        a = np.bincount(inv, weights=table.actual, minlength=n)
        e = np.bincount(inv, weights=table.expected, minlength=n)
        if table.kind == "ratio":
            ad, ed = table.dens()
            a = safe_ratio(a, np.bincount(inv, weights=ad, minlength=n))
            e = safe_ratio(e, np.bincount(inv, weights=ed, minlength=n))
        sd = _pooled_sd(table, sigma, inv, n)
        ok = sd > 0
        stat = float(np.sum(((a - trend * e)[ok] / sd[ok]) ** 2))
        df = max(int(ok.sum()) - 1, 1)
        out[j] = -float(chi2.logsf(stat, df))
    return out


def resolving_share(table: LeafTable, sigma: np.ndarray, threshold: float) -> float:
    """Share of the volume in informative leaves whose noise is at most ``threshold``.

    A ratio leaf with a denominator in only one period has volume but says nothing about the
    rate: it counts as unresolved, so sparse ratio tables get pooled too.
    """
    _, informative = leaf_deviation(table)
    volume = table.volume()
    total = float(volume.sum())
    return float(volume[informative & (sigma <= threshold)].sum()) / total if total > 0 else 1.0


def choose_grain(
    table: LeafTable, profile: NoiseProfile, *, threshold: float, min_share: float
) -> tuple[tuple[int, ...], LeafTable, np.ndarray]:
    """Pool dimensions away until ``min_share`` of the volume sits in leaves with noise ≤ ``threshold``.

    Returns the kept dimension positions (in the table's order), the searched table and the
    noise its leaves are labelled against. Nothing is pooled when the leaves are informative
    already. A pooled leaf's noise comes from its parts' variances, but is never below the floor
    of a leaf of its size (a pooled leaf of two orders is as coarse as an original one).
    """
    volume = table.volume()
    spread = profile.spread_at(volume)
    labels = np.maximum(spread, profile.floor_at(volume))
    keep: list[int] = list(range(len(table.dims)))
    current, current_spread, current_labels = table, spread, labels
    while resolving_share(current, current_labels, threshold) < min_share:
        implied = current.implied()
        droppable = [k for k in range(len(keep)) if k not in implied]
        if len(droppable) <= 1:
            break
        evidence = dimension_evidence(current, current_spread)
        drop = min(droppable, key=lambda k: (evidence[k], -len(current.labels[k])))
        keep = [d for k, d in enumerate(keep) if k != drop]
        current, inverse = table.pool(keep)
        current_spread = pooled_noise(table, spread, current, inverse)
        current_labels = np.maximum(current_spread, profile.floor_at(current.volume()))
    return tuple(keep), current, current_labels

