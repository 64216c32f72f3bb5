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
2. The noise of coarser leaves (sums of leaves) comes from the leaves' own, assuming independent
   leaves: variances add (for a rate, each period's numerators' variances).
3. :func:`choose_grain` pools: while most leaves could not tell a halving from noise, it sums the
   leaves over the dimension that names no slice which moved differently from its siblings
   (:func:`dimension_evidence`), and tries again. It stops before a pooling would merge an
   abnormal leaf with siblings that did not move like it: the slice that leaf names (a payment
   method in one province) would be lost. Dimensions implied by another (``region`` by
   ``province``) split nothing and are never dropped on their own.

Dense data (every leaf large, or noise proportional to size as in the Squeeze benchmark) is left
as it is: every bin gets the same scale and no dimension is pooled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import nnls
from scipy.special import log_ndtr
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

    Relative to the fitted spread, refitted a few times (weights from the observed spreads would
    favour bins that came out low by chance and pull the whole profile down).

    With a single bin the two cannot be told apart: small counts are taken as counting noise,
    anything else as proportional noise.
    """
    if len(spread) == 1:
        if discrete[0]:
            return 0.0, float(spread[0] ** 2 * volume[0])
        return float(spread[0]), 0.0
    design = np.column_stack([np.ones_like(volume), 1.0 / np.maximum(volume, 1e-12)])
    fitted = spread**2
    for _ in range(3):
        w = np.sqrt(sizes) / np.maximum(fitted, 1e-24)
        (b2, per_unit), _ = nnls(design * w[:, None], spread**2 * w)
        fitted = design @ np.array([b2, per_unit])
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


@dataclass(frozen=True)
class _Groups:
    """Sums over groups of leaves: each group's values, and the variances of what it compares.

    Leaves are independent, so variances add, and the variance of a group minus a part of it is
    a difference. Additive: ``var_a`` is the variance of ``actual - expected`` (``var_e`` is 0).
    Ratio: ``var_a``/``var_e`` are the variances of the two periods' numerators, each leaf
    adding ``den * s²`` (``s²`` its noise per unit of denominator), so that a group's rate in a
    period has variance ``var / den²``: a leaf with attempts in one period only still adds its
    noise to that period's rate, and one attempt against five is as noisy as it is.
    """

    kind: str
    a: np.ndarray
    e: np.ndarray
    ad: np.ndarray
    ed: np.ndarray
    var_a: np.ndarray
    var_e: np.ndarray

    @classmethod
    def of(cls, table: LeafTable, sigma: np.ndarray, inverse: np.ndarray, n: int) -> _Groups:
        """``sigma``: each leaf's relative noise as a leaf of its volume with both periods alike."""

        def s(v: np.ndarray) -> np.ndarray:
            return np.bincount(inverse, weights=v, minlength=n)

        zero = np.zeros(n)
        if table.kind != "ratio":
            var = (sigma * _level(table)) ** 2
            return cls(table.kind, s(table.actual), s(table.expected), zero, zero, s(var), zero)
        ad, ed = np.abs(table.dens()[0]), np.abs(table.dens()[1])
        ra, re_ = np.abs(safe_ratio(table.actual, ad)), np.abs(safe_ratio(table.expected, ed))
        sides = (ad > 0).astype(float) + (ed > 0)
        level = np.divide(ra + re_, sides, out=np.zeros(table.size), where=sides > 0)
        # a leaf of volume v = (ad + ed) / 2 in both periods has relative variance 2 s² / (v level²)
        per_unit = (sigma * level) ** 2 * (ad + ed) / 4
        return cls(table.kind, s(table.actual), s(table.expected), s(ad), s(ed), s(ad * per_unit),
                   s(ed * per_unit))

    def take(self, index: np.ndarray) -> _Groups:
        return _Groups(self.kind, *(getattr(self, f)[index] for f in ("a", "e", "ad", "ed", "var_a", "var_e")))

    def minus(self, part: _Groups) -> _Groups:
        return _Groups(self.kind, self.a - part.a, self.e - part.e, self.ad - part.ad, self.ed - part.ed,
                       np.maximum(self.var_a - part.var_a, 0.0), np.maximum(self.var_e - part.var_e, 0.0))

    def shortened(self, unit: float) -> _Groups:
        """The groups with each actual moved ``unit`` towards expected (not past it); for a ratio, the
        numerator towards the expected rate times the actual denominator."""
        target = safe_ratio(self.e, self.ed) * self.ad if self.kind == "ratio" else self.e
        gap = target - self.a
        a = self.a + np.sign(gap) * np.minimum(unit, np.abs(gap))
        return _Groups(self.kind, a, self.e, self.ad, self.ed, self.var_a, self.var_e)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """(actual, expected): sums, or rates for a ratio."""
        if self.kind == "ratio":
            return safe_ratio(self.a, self.ad), safe_ratio(self.e, self.ed)
        return self.a, self.e

    def sd(self) -> np.ndarray:
        """Standard deviation of actual − expected (of the two rates for a ratio)."""
        if self.kind != "ratio":
            return np.sqrt(self.var_a)
        return np.sqrt(safe_ratio(self.var_a, self.ad**2) + safe_ratio(self.var_e, self.ed**2))

    def deviation(self, profile: NoiseProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relative deviation (as :func:`leaf_deviation`), its noise (at least the floor), informative."""
        a, e = self.values()
        if self.kind == "ratio":
            informative = (np.abs(self.ad) > 0) & (np.abs(self.ed) > 0)
            volume = (np.abs(self.ad) + np.abs(self.ed)) / 2
        else:
            informative = (a != 0) | (e != 0)
            volume = (np.abs(a) + np.abs(e)) / 2
        scale = np.abs(a) + np.abs(e)
        informative &= scale > 0
        dev = np.zeros(len(a))
        np.divide(2.0 * (a - e), scale, out=dev, where=informative)
        noise = np.divide(2.0 * self.sd(), scale, out=np.zeros(len(a)), where=informative)
        return dev, np.maximum(noise, profile.floor_at(volume)), informative


class _Cuboids:
    """The groups of leaves of each cuboid (set of dimension positions) of one table, computed once."""

    def __init__(self, table: LeafTable, sigma: np.ndarray, profile: NoiseProfile | None) -> None:
        self.table, self.sigma, self.profile = table, sigma, profile
        self._inverse: dict[tuple[int, ...], np.ndarray] = {}
        self._groups: dict[tuple[int, ...], _Groups] = {}

    def inverse(self, cuboid: tuple[int, ...]) -> np.ndarray:
        """Each leaf's element of ``cuboid``."""
        if cuboid not in self._inverse:
            self._inverse[cuboid] = self.table.cuboid_index(cuboid)[0]
        return self._inverse[cuboid]

    def groups(self, cuboid: tuple[int, ...]) -> _Groups:
        if cuboid not in self._groups:
            inverse = self.inverse(cuboid)
            n = int(inverse.max()) + 1 if inverse.size else 0
            self._groups[cuboid] = _Groups.of(self.table, self.sigma, inverse, n)
        return self._groups[cuboid]

    def contrast(self, cuboid: tuple[int, ...], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """How far each element of ``cuboid`` moved from its siblings (the elements that differ from it
        in ``dim`` only, summed), in noise scales: ``|z|`` per element, and whether it could be
        tested (both sides informative, at least one sibling)."""
        assert self.profile is not None
        parent_cuboid = tuple(k for k in cuboid if k != dim)
        own = self.groups(cuboid)
        parent = np.zeros(len(own.a), dtype=np.int64)
        parent[self.inverse(cuboid)] = self.inverse(parent_cuboid)
        rest = self.groups(parent_cuboid).take(parent).minus(own)
        dev, noise, ok = own.deviation(self.profile)
        dev_r, noise_r, ok_r = rest.deviation(self.profile)
        ok = ok & ok_r & (np.bincount(parent)[parent] > 1)
        scale = np.sqrt(noise**2 + noise_r**2)
        ok &= scale > 0
        return np.divide(np.abs(dev - dev_r), scale, out=np.zeros(len(dev)), where=ok), ok


def dimension_evidence(
    table: LeafTable, sigma: np.ndarray, profile: NoiseProfile | None = None, dims: Sequence[int] | None = None,
    *, cuboids: _Cuboids | None = None,
) -> np.ndarray:
    """Per dimension (of ``dims``, default all), how surely some slice naming it moved differently (−log p).

    Two tests, the stronger counts: (1) the dimension's values against the overall change
    (chi-square over the values, for a move spread over many of them); (2) with a ``profile``,
    every slice of the dimension alone or paired with another one against its siblings, the
    slices that differ from it in this dimension only (the largest ``|z|``, Bonferroni over the
    slices tested). A payment method failing in one province barely moves the method's national
    total, so the first test misses it; the second sees the province's method apart from the
    province's other methods.
    """
    dims = list(range(len(table.dims))) if dims is None else list(dims)
    cuboids = cuboids or _Cuboids(table, sigma, profile)
    stats, dfs = np.zeros(len(dims)), np.ones(len(dims))
    if table.kind == "ratio":
        ad, ed = table.dens()
        ra_t = float(safe_ratio(table.actual.sum(), ad.sum()))
        re_t = float(safe_ratio(table.expected.sum(), ed.sum()))
    else:
        ra_t, re_t = float(table.actual.sum()), float(table.expected.sum())
    trend = ra_t / re_t if re_t else 1.0
    for pos, j in enumerate(dims):
        groups = cuboids.groups((j,))
        a, e = groups.values()
        sd = groups.sd()
        ok = sd > 0
        stats[pos] = float(np.sum(((a - trend * e)[ok] / sd[ok]) ** 2))
        dfs[pos] = max(int(ok.sum()) - 1, 1)
    out = -np.asarray(chi2.logsf(stats, dfs), dtype=float)
    if profile is None or table.size == 0:
        return out
    best = np.zeros(len(dims))
    tests = np.zeros(len(dims))
    for cuboid in [c for layer in (1, 2) for c in combinations(range(len(dims)), layer)]:
        for pos in cuboid:
            z, ok = cuboids.contrast(tuple(dims[k] for k in cuboid), dims[pos])
            if ok.any():
                tests[pos] += int(ok.sum())
                best[pos] = max(best[pos], float(z[ok].max()))
    tested = tests > 0
    contrast = np.zeros(len(dims))
    contrast[tested] = -(np.log(2.0) + log_ndtr(-best[tested])) - np.log(tests[tested])
    return np.maximum(out, contrast)


def resolving_share(table: LeafTable, sigma: np.ndarray, threshold: float) -> float:
    """Share of the leaves (with anything in them) that are informative and have noise ≤ ``threshold``.

    Leaves, not volume: the description the slices are chosen by charges every informative leaf
    alike, so a cause whose leaves are mostly too small to show it gets split into the few
    that do. A ratio leaf with a denominator in only one period says nothing about the rate: it
    counts as unresolved, so sparse ratio tables get pooled too.
    """
    _, informative = leaf_deviation(table)
    present = table.present()
    total = int(present.sum())
    return int((present & informative & (sigma <= threshold)).sum()) / total if total else 1.0


def _unit(table: LeafTable) -> float:
    """1 when the table holds counts (every value whole: orders, payment attempts), else 0."""
    parts = [table.actual, table.expected, *(table.dens() if table.kind == "ratio" else ())]
    return 1.0 if all(np.array_equal(v, np.round(v)) for v in parts) else 0.0


def _pooling_loses(cuboids: _Cuboids, keep: Sequence[int], noise_k: float, min_change: float) -> Callable[[int], bool]:
    """Would summing the leaves at the grain ``keep`` over dimension ``drop`` merge an abnormal one with
    siblings that did not move like it (``drop -> bool``)?

    Abnormal: labelled at least half abnormal (``|dev|`` from 1.5 ``noise_k`` noise scales), and
    still so with one count less of a move when the values are counts: one failed payment out of
    one attempt is a rate falling from 100 % to 0, far beyond a Gaussian noise scale and yet a
    2 % chance at a 98 % success rate. Not like it: its deviation and its siblings' differ by
    more than ``noise_k`` noise scales. Such a leaf names a slice (a payment method in one
    province) that no coarser grain can express.
    """
    assert cuboids.profile is not None
    groups = cuboids.groups(tuple(keep))
    dev, noise, informative = groups.deviation(cuboids.profile)
    bar = 1.5 * np.maximum(noise_k * noise, min_change)
    abnormal = informative & (np.abs(dev) >= bar)
    unit = _unit(cuboids.table)
    if abnormal.any() and unit:
        abnormal &= np.abs(groups.shortened(unit).deviation(cuboids.profile)[0]) >= bar

    def loses(drop: int) -> bool:
        if not abnormal.any():
            return False
        z, ok = cuboids.contrast(tuple(keep), drop)
        return bool(np.any(abnormal & ok & (z > noise_k)))

    return loses


def choose_grain(
    table: LeafTable, profile: NoiseProfile, *, threshold: float, min_share: float, noise_k: float = 3.0,
    min_change: float = 0.01,
) -> tuple[tuple[int, ...], LeafTable, np.ndarray]:
    """Pool dimensions away until ``min_share`` of the leaves have noise ≤ ``threshold``.

    Returns the kept dimension positions (in the table's order), the searched table and the
    noise its leaves are labelled against. Nothing is pooled when the leaves are informative
    already. The dimension pooled first is the one with the least :func:`dimension_evidence`,
    skipping any whose pooling would merge an abnormal leaf with siblings that did not move
    like it (:func:`_pooling_loses`; ``noise_k`` and ``min_change`` are the labelling's); when every
    candidate is skipped, pooling stops there. A pooled leaf's noise comes from its parts'
    variances, but is never below the floor of a leaf of its size (a pooled leaf of two orders
    is as coarse as an original one).
    """
    spread = profile.spread_at(table.volume())
    cuboids = _Cuboids(table, spread, profile)
    keep: list[int] = list(range(len(table.dims)))
    current, groups = table, _Groups.of(table, spread, np.arange(table.size), table.size)
    while True:
        labels = groups.deviation(profile)[1]
        if resolving_share(current, labels, threshold) >= min_share:
            break
        implied = current.implied()
        droppable = [k for k in range(len(keep)) if k not in implied]
        if len(droppable) <= 1:
            break
        evidence = dimension_evidence(table, spread, profile, keep, cuboids=cuboids)
        order = sorted(droppable, key=lambda k: (evidence[k], -len(current.labels[k])))
        loses = _pooling_loses(cuboids, keep, noise_k, min_change)
        drop = next((keep[k] for k in order if not loses(keep[k])), None)
        if drop is None:
            break
        keep = [d for d in keep if d != drop]
        current, groups = table.pool(keep)[0], cuboids.groups(tuple(keep))  # both in the cuboid's order
    return tuple(keep), current, labels
