"""Multi-dimensional localization: the few slices (``province=浙江 & channel=app``) that explain a change.

Two localizers are registered (add more with :func:`register_localizer`):

``ours`` — *ripple cover*. A root-cause slice changes (almost) all the leaves below it, and leaves
outside every root cause stay within noise. So: (1) turn each leaf's relative deviation
``2(a-e)/(|a|+|e|)`` into a soft "abnormal" label, measured against the noise of leaves *of its
size*, estimated from the table itself (robust per volume bin, so up to ~75 % abnormal leaves do
not inflate it; see :mod:`metricloop.explain.noise`); leaves too small to show even a drop to
zero carry no information. When most leaves are too small to tell a halving from noise (GMV
over a few hours, split six ways), the leaves are first summed over the dimensions that name no
slice which moved apart from its siblings, but never so far that an abnormal leaf is merged with
siblings that did not move like it; the search runs on those pooled leaves (the result says so);
(2) choose the set of slices that best encodes those labels, in the minimum-description-length
sense: a leaf inside a chosen slice is abnormal with probability ``inside_rate``, outside with
probability ``outside_rate``, and each slice costs the bits needed to name it among the slices
of its layer. A slice explains the leaves that moved in its direction (a root cause moves its
leaves one way); those that moved the other way cost like normal ones. Greedy selection over
every cuboid (each step adds the slice that shortens the description most, counting only
leaves not yet covered), then a pass that drops slices made redundant by later ones. A parent
slice pays for its normal leaves, a child slice leaves its siblings' abnormal leaves
unexplained, so the exact slice wins; no per-dataset threshold. Hierarchies found in the data
(``province → region``) are respected: no slice names a province and its region together.

``adtributor`` — the published baseline (Bhagwan et al., "Adtributor: Revenue Debugging in
Advertising Systems", NSDI 2014): per dimension, values ranked by surprise (Jensen-Shannon
divergence of expected vs actual shares), kept while their explanatory power exceeds
``T_EEP`` until the cumulative explanatory power exceeds ``T_EP``; dimensions ranked by total
surprise; the top ``k`` explanations are returned. One dimension per cause by construction.

``riskloc`` — a re-implementation of RiskLoc (Kalander 2022, arXiv:2205.10004), the state of the
art on the Squeeze benchmarks, kept as a measured reference for the benchmark (additive only).

For ratio metrics the leaf deviation is that of the leaf's rate (numerator / denominator), and the
slices' contributions are the change of the overall rate that disappears when the slice is put
back to its expected numerator and denominator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from metricloop.errors import QueryError
from metricloop.explain.frame import LeafTable, MetricKind, leaf_table, safe_ratio
from metricloop.explain.noise import choose_grain, leaf_deviation, leaf_noise, noise_profile, noise_scale
from metricloop.i18n import Text

__all__ = [
    "LOCALIZERS", "Cause", "Element", "Localization", "LocalizeConfig", "Search", "leaf_deviation",
    "localize", "localize_table", "noise_scale", "register_localizer",
]

Conditions = tuple[tuple[str, str], ...]
Pick = tuple[tuple[int, ...], int]
"""A slice as (cuboid: dimension positions, element id within that cuboid)."""


@dataclass(frozen=True)
class Element:
    """A slice: ``dim=value`` pairs in the table's dimension order (the empty tuple is the total)."""

    conditions: Conditions

    @property
    def layer(self) -> int:
        return len(self.conditions)

    def as_set(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.conditions)

    def __str__(self) -> str:
        return "&".join(f"{d}={v}" for d, v in self.conditions) or "*"

    def to_dict(self) -> dict[str, str]:
        return dict(self.conditions)


@dataclass(frozen=True)
class Cause:
    """One slice of the answer with the numbers a user checks it by."""

    element: Element
    actual: float
    expected: float
    change: float
    relative_change: float | None
    contribution: float
    """Share of the total change that disappears when this slice is put back to expected."""
    leaves: int
    abnormal_leaves: float
    score: float
    actual_ratio: float | None = None
    expected_ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "element": str(self.element),
            "slice": self.element.to_dict(),
            "layer": self.element.layer,
            "actual": self.actual,
            "expected": self.expected,
            "change": self.change,
            "relative_change": self.relative_change,
            "contribution": self.contribution,
            "leaves": self.leaves,
            "abnormal_leaves": self.abnormal_leaves,
            "score": self.score,
        }
        if self.actual_ratio is not None:
            out["actual_ratio"] = self.actual_ratio
            out["expected_ratio"] = self.expected_ratio
        return out


@dataclass(frozen=True)
class Localization:
    """The answer: causes in order of importance, and how much of the change they explain."""

    algorithm: str
    kind: MetricKind
    causes: tuple[Cause, ...]
    total_actual: float
    total_expected: float
    explained_share: float | None
    noise_scale: float | None = None
    notes: tuple[Text, ...] = ()
    searched: tuple[str, ...] | None = None
    """Dimensions the slices were searched by, when fewer than given (small leaves pooled)."""

    @property
    def elements(self) -> list[Element]:
        return [c.element for c in self.causes]

    @property
    def summary(self) -> Text:
        if not self.causes:
            return Text(
                en="No slice stands out: the change is spread across the data or within noise.",
                zh="没有突出的切片：变化分散在各处，或在噪声范围内。",
            )
        parts_en = ", ".join(f"{c.element} ({_pct(c.relative_change)})" for c in self.causes)
        parts_zh = "，".join(f"{c.element}（{_pct(c.relative_change)}）" for c in self.causes)
        if self.explained_share is None:
            what_en, what_zh = "the change", "变化"
        else:
            what_en, what_zh = f"{self.explained_share:.0%} of the change", f"{self.explained_share:.0%} 的变化"
        return Text(
            en=f"{len(self.causes)} slice(s) explain {what_en}: {parts_en}.",
            zh=f"{len(self.causes)} 个切片解释了{what_zh}：{parts_zh}。",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "kind": self.kind,
            "total_actual": self.total_actual,
            "total_expected": self.total_expected,
            "explained_share": self.explained_share,
            "noise_scale": self.noise_scale,
            "searched": list(self.searched) if self.searched is not None else None,
            "causes": [c.to_dict() for c in self.causes],
            "summary": self.summary.to_dict(),
            "notes": [n.to_dict() for n in self.notes],
        }


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"


@dataclass(frozen=True)
class LocalizeConfig:
    """One configuration for every dataset: the values are modelling choices, not fitted knobs."""

    max_layer: int = 4
    """Deepest slice considered (number of dimensions fixed); capped by the number of dimensions."""
    max_causes: int = 10
    noise_k: float = 3.0
    """A leaf starts to count as abnormal at ``noise_k`` noise scales, fully at twice that."""
    min_relative_change: float = 0.01
    """Relative deviations below this never count, whatever the noise estimate (1 %)."""
    inside_rate: float = 0.9
    outside_rate: float = 1e-4
    resolve_change: float = 0.5
    min_resolving_share: float = 0.5
    """Pool small leaves (sum them over the dimension that moved least) until at least this share of
    the leaves are ones where a change by ``resolve_change`` (a halving) would be labelled at least
    half abnormal. Dense tables are searched as they are."""
    tail_index: float = 1.0
    """Extra evidence of a leaf far beyond the noise: ``α * ln(|dev| / full)`` nats, i.e. normal
    leaves are assumed to have a Pareto tail of index α, so a leaf that drops to zero counts more
    than one just past the threshold. α is read from the table itself (how fast the share of
    leaves beyond half the threshold thins out at the threshold, see :func:`tail_index`) and is
    never below ``tail_index`` (the heaviest tail assumed) nor above ``max_tail_index``."""
    max_tail_index: float = 8.0
    """The lightest tail assumed: with Gaussian-like noise a lone leaf at 10+ noise scales is
    evidence enough to be named on its own (one deep leaf among 36,000, RiskLoc's L set)."""
    # Adtributor (published defaults: T_EEP 10 %, T_EP 67 %, top 3 explanations)
    adtributor_teep: float = 0.1
    adtributor_tep: float = 0.67
    adtributor_k: int = 3
    # RiskLoc reference (the paper's defaults: risk threshold 0.5, PEP threshold 0.02, n_remove 5)
    riskloc_risk: float = 0.5
    riskloc_pep: float = 0.02
    riskloc_n_remove: int = 5


# ---------------------------------------------------------------------------------------------
# leaf deviation and noise


def abnormal_labels(table: LeafTable, config: LocalizeConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """Soft labels in [0, 1] (0 below ``noise_k`` σ, 1 from twice that), informative mask, σ."""
    y, _, informative, _, sigma = _labels(table, config, leaf_noise(table))
    return y, informative, _typical(sigma, informative)


def _typical(sigma: np.ndarray, informative: np.ndarray) -> float:
    return float(np.median(sigma[informative])) if informative.any() else 0.0


def _labels(
    table: LeafTable, config: LocalizeConfig, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Soft labels, tail bonus (nats), informative mask, capacity and the leaves' noise scales.

    Each leaf is judged against its own noise ``sigma`` (see :mod:`metricloop.explain.noise`).
    The capacity is the label the leaf would get if it dropped to zero: a leaf so noisy that
    even that would not look abnormal carries no information, and costs nothing as "normal".
    """
    dev, informative = leaf_deviation(table)
    lo = np.maximum(config.noise_k * sigma, config.min_relative_change)
    a = np.abs(dev)
    y = np.clip((a - lo) / lo, 0.0, 1.0)
    y[~informative] = 0.0
    capacity = np.clip((2.0 - lo) / lo, 0.0, 1.0) * informative
    bonus = tail_index(a, lo, informative, config) * np.log(np.maximum(a, 2 * lo) / (2 * lo))
    bonus[~informative] = 0.0
    return y, bonus, informative, capacity, sigma


def tail_index(a: np.ndarray, lo: np.ndarray, informative: np.ndarray, config: LocalizeConfig) -> float:
    """Pareto index of the leaves' deviation tail, from the table: ``log2(n(|dev| > lo/2) / n(|dev| > lo))``.

    Why: how much a leaf far beyond the threshold says depends on how heavy the noise's tail is.
    Heavy-tailed data (a share beyond the threshold half as large as beyond half of it) keeps the
    cautious index 1; Gaussian-like noise (about 50 times fewer leaves beyond 3 σ than beyond
    1.5 σ) gets about 5.6, so a single leaf at 10+ σ outweighs the cost of naming it. Abnormal
    leaves only make the estimate heavier (more cautious), never lighter.
    """
    n_half = int(np.count_nonzero(informative & (a > lo / 2)))
    n_full = int(np.count_nonzero(informative & (a > lo)))
    if n_full == 0:
        return config.max_tail_index
    alpha = math.log(max(n_half, 1) / n_full) / math.log(2.0)
    return float(min(config.max_tail_index, max(config.tail_index, alpha)))


# ---------------------------------------------------------------------------------------------
# registry

@dataclass(frozen=True)
class Search:
    """What a localizer found: (slice, score) pairs, and how it looked at the data."""

    found: list[tuple[Conditions, float]]
    noise: float | None = None
    table: LeafTable | None = None
    """The leaves the slices were searched on, when the localizer pooled the input (else ``None``)."""
    labels: np.ndarray | None = None
    """The searched leaves' soft abnormal labels, when the localizer computed them."""


Localizer = Callable[[LeafTable, "LocalizeConfig"], Search]
LOCALIZERS: dict[str, Localizer] = {}


def register_localizer(name: str) -> Callable[[Localizer], Localizer]:
    """Register a localizer under ``name``; it gets the coded leaves and returns a :class:`Search`."""

    def deco(fn: Localizer) -> Localizer:
        LOCALIZERS[name] = fn
        return fn

    return deco


def _cuboids(n_dims: int, max_layer: int, implied: dict[int, int] | None = None) -> list[tuple[int, ...]]:
    """Sets of dimensions to search; none holds a dimension together with one that implies it."""
    implied = implied or {}

    def redundant(c: tuple[int, ...]) -> bool:
        return any(implied.get(j) in c for j in c)

    return [c for layer in range(1, min(max_layer, n_dims) + 1) for c in combinations(range(n_dims), layer)
            if not redundant(c)]


def resolve_threshold(config: LocalizeConfig) -> float:
    """Noise scale up to which a leaf whose value changes by ``resolve_change`` gets a label ≥ ½."""
    c = config.resolve_change
    dev = 2 * c / (2 - c)  # the relative deviation of a fall by c
    return dev / (1.5 * config.noise_k)


@register_localizer("ours")
def ripple_cover(table: LeafTable, config: LocalizeConfig) -> Search:
    """Greedy minimum-description-length cover of the abnormal leaves (see the module docstring).

    Leaves too small to tell a change from noise are first pooled over the dimensions that moved
    least (:func:`metricloop.explain.noise.choose_grain`); the slices are searched on the result.
    """
    keep, searched, sigma_searched = choose_grain(
        table, noise_profile(table), threshold=resolve_threshold(config), min_share=config.min_resolving_share,
        noise_k=config.noise_k, min_change=config.min_relative_change)
    pooled = searched if len(keep) < len(table.dims) else None
    y, bonus, informative, capacity, _ = _labels(searched, config, sigma_searched)
    found = _ripple_cover(searched, config, y, bonus, informative, capacity)
    return Search(found, _typical(sigma_searched, informative), pooled, y)


def _ripple_cover(
    table: LeafTable, config: LocalizeConfig, y: np.ndarray, bonus: np.ndarray,
    informative: np.ndarray, capacity: np.ndarray,
) -> list[tuple[Conditions, float]]:
    normal = capacity - y
    informative = informative & (capacity > 0)
    if y.sum() <= 0:
        return []
    gain_abnormal = math.log(config.inside_rate / config.outside_rate)
    cost_normal = math.log((1 - config.outside_rate) / (1 - config.inside_rate))
    evidence = y * (gain_abnormal + bonus)
    # A root cause moves its leaves one way. A slice is described as "down" or "up"; its leaves
    # that moved the other way are not explained by it and cost as much as normal ones.
    dev, _ = leaf_deviation(table)
    down, up = dev < 0, dev > 0
    weight_down = evidence * down - cost_normal * (normal + y * up)
    weight_up = evidence * up - cost_normal * (normal + y * down)

    cuboids = _cuboids(len(table.dims), config.max_layer, table.implied())
    index = {c: table.cuboid_index(c) for c in cuboids}
    # naming cost of a slice: which layer, then which of that layer's informative slices
    n_layers = max(len(c) for c in cuboids)
    per_layer: dict[int, int] = {}
    for c, (inv, codes) in index.items():
        has_info = np.bincount(inv, weights=informative.astype(float), minlength=len(codes)) > 0
        per_layer[len(c)] = per_layer.get(len(c), 0) + int(has_info.sum())
    name_cost = {layer: math.log(max(n, 1)) + math.log(n_layers) for layer, n in per_layer.items()}

    def gains(cuboid: tuple[int, ...], uncovered: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Description length saved by adding each slice of ``cuboid``, counting uncovered leaves."""
        if rows is None:
            rows = np.flatnonzero(uncovered & informative)  # leaves without information cost nothing
        inv, codes = index[cuboid]
        g_down = np.bincount(inv[rows], weights=weight_down[rows], minlength=len(codes))
        g_up = np.bincount(inv[rows], weights=weight_up[rows], minlength=len(codes))
        return np.maximum(g_down, g_up) - name_cost[len(cuboid)]

    def greedy(
        uncovered: np.ndarray, candidates: Sequence[tuple[int, ...]], limit: int
    ) -> list[tuple[Pick, float]]:
        """Repeatedly add the slice that shortens the description most; stop when none does."""
        uncovered = uncovered.copy()
        picked: list[tuple[Pick, float]] = []
        for _ in range(limit):
            best: tuple[float, tuple[int, ...], int] | None = None
            rows = np.flatnonzero(uncovered & informative)
            for c in candidates:
                g = gains(c, uncovered, rows)
                k = int(np.argmax(g))
                if best is None or g[k] > best[0] + 1e-12:
                    best = (float(g[k]), c, k)
            if best is None or best[0] <= 0:
                break
            picked.append(((best[1], best[2]), best[0]))
            uncovered &= index[best[1]][0] != best[2]
        return picked

    def uncovered_except(items: Sequence[Pick], skip: int | None = None) -> np.ndarray:
        unc = np.ones(table.size, dtype=bool)
        for j, (c, k) in enumerate(items):
            if j != skip:
                unc &= index[c][0] != k
        return unc

    chosen: list[Pick] = [p for p, _ in greedy(np.ones(table.size, dtype=bool), cuboids, config.max_causes)]

    # Greedy takes a parent before its children when the parent alone beats each child alone,
    # even if the children together describe the data better: try splitting each slice into
    # its best cover by more specific slices and keep whichever is shorter.
    for _ in range(config.max_causes):
        split = False
        for i, (c, k) in enumerate(chosen):
            region = uncovered_except(chosen, skip=i) & (index[c][0] == k)
            finer = [d for d in cuboids if len(d) > len(c) and set(c) <= set(d)]
            sub = greedy(region, finer, config.max_causes)
            if sub and sum(g for _, g in sub) > float(gains(c, region)[k]) + 1e-9:
                chosen = chosen[:i] + [p for p, _ in sub] + chosen[i + 1:]
                split = True
                break
        if not split or len(chosen) >= config.max_causes:
            break

    # drop slices whose leaves the others already explain
    changed = True
    while changed and len(chosen) > 1:
        changed = False
        for i, (c, k) in enumerate(chosen):
            if gains(c, uncovered_except(chosen, skip=i))[k] <= 0:
                del chosen[i]
                changed = True
                break

    # final scores: each slice's gain given all the others
    out: list[tuple[Conditions, float]] = []
    for i, (c, k) in enumerate(chosen):
        score = float(gains(c, uncovered_except(chosen, skip=i))[k])
        out.append((table.condition(c, index[c][1][k]), score))
    out.sort(key=lambda t: -t[1])
    return out


def js_surprise(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Adtributor's surprise: each value's term of the Jensen-Shannon divergence of shares p → q."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log(np.where(p > 0, p / np.where(m > 0, m, 1), 1)), 0.0)
        tq = np.where(q > 0, q * np.log(np.where(q > 0, q / np.where(m > 0, m, 1), 1)), 0.0)
    return 0.5 * (tp + tq)


def _shares(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total != 0 else np.zeros_like(values)


@register_localizer("adtributor")
def adtributor(table: LeafTable, config: LocalizeConfig) -> Search:
    """Adtributor (NSDI 2014), from the paper: one-dimensional explanations ranked by surprise."""
    a_total, e_total = float(table.actual.sum()), float(table.expected.sum())
    candidates: list[tuple[float, list[tuple[Conditions, float]]]] = []
    for j in range(len(table.dims)):
        inv, codes = table.cuboid_index((j,))
        n = len(codes)
        a = np.bincount(inv, weights=table.actual, minlength=n)
        e = np.bincount(inv, weights=table.expected, minlength=n)
        if table.kind == "ratio":
            _ad, _ed = table.dens()
            ad = np.bincount(inv, weights=_ad, minlength=n)
            ed = np.bincount(inv, weights=_ed, minlength=n)
            ep = ratio_counterfactual_share(a, e, ad, ed, a_total, e_total,
                                            float(_ad.sum()), float(_ed.sum()))
            surprise = js_surprise(_shares(e), _shares(a)) + js_surprise(_shares(ed), _shares(ad))
        else:
            change = a_total - e_total
            ep = (a - e) / change if change != 0 else np.zeros(n)
            surprise = js_surprise(_shares(e), _shares(a))
        order = np.argsort(-surprise, kind="stable")
        picked: list[tuple[Conditions, float]] = []
        cumulative = 0.0
        for k in order:
            if ep[k] <= config.adtributor_teep:
                continue
            picked.append((table.condition((j,), codes[k]), float(surprise[k])))
            cumulative += float(ep[k])
            if cumulative > config.adtributor_tep:
                candidates.append((float(sum(s for _, s in picked)), picked))
                break
    candidates.sort(key=lambda t: -t[0])
    out: list[tuple[Conditions, float]] = []
    for _, picked in candidates[: config.adtributor_k]:
        out.extend(picked)
    return Search(out)


@register_localizer("riskloc")
def riskloc(table: LeafTable, config: LocalizeConfig) -> Search:
    """RiskLoc (Kalander 2022, arXiv:2205.10004), re-implemented here as a measured reference.

    Leaves are split in two at a cutpoint read from the tail opposite to the anomaly (the
    ``riskloc_n_remove``-th most extreme deviation on the milder side); leaf weights grow
    linearly with the distance from the cutpoint (capped at 1). An element's risk is its
    weighted share of abnormal leaves minus a ripple-effect term (how far its leaves are from
    scaling uniformly with the element); layers are searched top-down, and the element with the
    highest explanatory power among those with risk ≥ ``riskloc_risk`` is taken, its leaves
    removed, until the abnormal part's remaining explanatory power falls below
    ``riskloc_pep`` of the start. A ratio metric is adapted (not the paper's derived-measure
    variant): each leaf's numerator is compared with what its actual denominator would have
    given at the expected rate, so the search sees rate changes as additive deviations.
    """
    if table.kind == "ratio":
        ad, ed = table.dens()
        v, f = table.actual, ad * safe_ratio(table.expected, ed)
    else:
        v, f = table.actual, table.expected
    zero = (v == 0) & (f == 0)
    dev = np.zeros(table.size)
    np.divide(2 * (f - v), f + v, out=dev, where=~zero & ((f + v) != 0))
    uniq = np.unique(dev)
    k = min(config.riskloc_n_remove, len(uniq) - 1)
    low, high = uniq[k], uniq[len(uniq) - 1 - k]
    cut = -(low if abs(low) < abs(high) else high)
    abnormal = dev > cut if cut >= 0 else dev < cut
    weight = np.where(abnormal, np.abs(dev), np.where(zero, 0.0, np.abs(cut - dev)))
    weight = np.minimum(weight, 1.0)
    change = v.sum() - f.sum()
    ep = (v - f) / change if change else np.zeros(table.size)
    if ep[abnormal].sum() < 0:
        ep = -ep
    threshold = ep[abnormal].sum() * config.riskloc_pep
    both = (v != 0) & (f != 0)

    cuboids = _cuboids(len(table.dims), len(table.dims))
    index = {c: table.cuboid_index(c) for c in cuboids}
    alive = np.ones(table.size, dtype=bool)
    out: list[tuple[Conditions, float]] = []
    while ep[abnormal & alive].sum() >= threshold and len(out) < config.max_causes:
        found: tuple[float, tuple[int, ...], int] | None = None
        for layer in range(1, len(table.dims) + 1):
            for c in (c for c in cuboids if len(c) == layer):
                inv, codes = index[c]
                n = len(codes)
                live = alive.astype(float)
                ep_e = np.bincount(inv, weights=ep * live, minlength=n)
                n_ab = np.bincount(inv, weights=(abnormal & alive).astype(float), minlength=n)
                w_ab = np.bincount(inv, weights=weight * (abnormal & alive), minlength=n)
                w_no = np.bincount(inv, weights=weight * (~abnormal & alive), minlength=n)
                high_risk = w_ab / (w_ab + w_no + 1)
                ok = (both & alive).astype(float)
                sv = np.bincount(inv, weights=v * ok, minlength=n)
                sf = np.bincount(inv, weights=f * ok, minlength=n)
                scale = np.divide(sv, sf, out=np.zeros(n), where=sf != 0)[inv]
                a = f * scale
                d = np.zeros(table.size)
                np.divide(2 * (a - v), a + v, out=d, where=(ok > 0) & ((a + v) != 0))
                cnt = np.bincount(inv, weights=ok, minlength=n)
                mean_d = np.divide(np.bincount(inv, weights=np.abs(d) * ok, minlength=n), cnt,
                                   out=np.zeros(n), where=cnt > 0)
                mean_dev = np.divide(np.bincount(inv, weights=np.abs(dev) * ok, minlength=n), cnt,
                                     out=np.zeros(n), where=cnt > 0)
                low_risk = np.divide(mean_d, mean_dev, out=np.zeros(n), where=mean_dev != 0)
                qualifies = (n_ab > 0) & (ep_e > threshold) & (high_risk - low_risk >= config.riskloc_risk)
                if qualifies.any():
                    j = int(np.argmax(np.where(qualifies, ep_e, -np.inf)))
                    if found is None or ep_e[j] > found[0]:
                        found = (float(ep_e[j]), c, j)
            if found is not None:
                break
        if found is None:
            break
        _, c, j = found
        out.append((table.condition(c, index[c][1][j]), found[0]))
        alive &= index[c][0] != j
    return Search(out)


def ratio_counterfactual_share(
    a_num: np.ndarray, e_num: np.ndarray, a_den: np.ndarray, e_den: np.ndarray,
    a_num_total: float, e_num_total: float, a_den_total: float, e_den_total: float,
) -> np.ndarray:
    """Share of the overall rate change that goes away if each slice had its expected num and den."""
    r_actual = a_num_total / a_den_total if a_den_total else 0.0
    r_expected = e_num_total / e_den_total if e_den_total else 0.0
    change = r_actual - r_expected
    cf_den = a_den_total - a_den + e_den
    cf = safe_ratio(a_num_total - a_num + e_num, cf_den)
    return (r_actual - cf) / change if change != 0 else np.zeros_like(a_num)


# ---------------------------------------------------------------------------------------------
# public entry point


def localize(
    frame: pd.DataFrame,
    dims: Sequence[str] | None = None,
    *,
    algorithm: str = "ours",
    config: LocalizeConfig | None = None,
) -> Localization:
    """Find the slices that explain the change between ``expected`` and ``actual``.

    ``frame`` holds leaf aggregates (see :mod:`metricloop.explain.frame`); ``dims`` defaults to
    every non-value column.
    """
    table = leaf_table(frame, dims)
    return localize_table(table, algorithm=algorithm, config=config)


def localize_table(
    table: LeafTable, *, algorithm: str = "ours", config: LocalizeConfig | None = None
) -> Localization:
    """:func:`localize` on an already coded table (the benchmark codes once, times the search)."""
    cfg = config or LocalizeConfig()
    try:
        fn = LOCALIZERS[algorithm]
    except KeyError:
        raise QueryError(
            f"unknown localization algorithm {algorithm!r}; expected one of {sorted(LOCALIZERS)}",
            zh=f"未知的定位算法 {algorithm!r}；可选：{sorted(LOCALIZERS)}",
        ) from None
    search = fn(table, cfg)
    searched = search.table if search.table is not None else table
    result = describe(searched, search.found, algorithm=algorithm, noise=search.noise, config=cfg,
                      labels=search.labels)
    if search.table is None:
        return result
    pooled = [d for d in table.dims if d not in searched.dims]
    note = Text(
        en=f"Leaves were too small to tell a change from noise; slices were searched by "
           f"{', '.join(searched.dims)} ({', '.join(pooled)} summed over).",
        zh=f"明细切片数据量太小，无法区分变化与噪声；已按 {'、'.join(searched.dims)} 搜索"
           f"（{'、'.join(pooled)} 已合并）。",
    )
    return replace(result, searched=searched.dims, notes=(*result.notes, note))


@dataclass
class _Totals:
    a: float
    e: float
    ad: float = 0.0
    ed: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def describe(
    table: LeafTable,
    found: Sequence[tuple[Conditions, float]],
    *,
    algorithm: str,
    noise: float | None,
    config: LocalizeConfig | None = None,
    labels: np.ndarray | None = None,
) -> Localization:
    """Attach actual/expected/change/contribution to each found slice."""
    is_ratio = table.kind == "ratio"
    tot = _Totals(float(table.actual.sum()), float(table.expected.sum()))
    if is_ratio:
        _ad, _ed = table.dens()
        tot.ad, tot.ed = float(_ad.sum()), float(_ed.sum())
    total_actual = float(safe_ratio(tot.a, tot.ad)) if is_ratio else tot.a
    total_expected = float(safe_ratio(tot.e, tot.ed)) if is_ratio else tot.e
    total_change = total_actual - total_expected

    def counterfactual(mask: np.ndarray) -> float:
        """The total if the leaves in ``mask`` had behaved as expected."""
        num = tot.a - table.actual[mask].sum() + table.expected[mask].sum()
        if not is_ratio:
            return float(num)
        _ad, _ed = table.dens()
        den = tot.ad - _ad[mask].sum() + _ed[mask].sum()
        return float(safe_ratio(num, den))

    y = labels if labels is not None else abnormal_labels(table, config or LocalizeConfig())[0]
    causes: list[Cause] = []
    union = np.zeros(table.size, dtype=bool)
    for conditions, score in found:
        m = table.mask(conditions)
        union |= m
        a, e = float(table.actual[m].sum()), float(table.expected[m].sum())
        ar = er = None
        if is_ratio:
            _ad, _ed = table.dens()
            ar = float(safe_ratio(a, _ad[m].sum()))
            er = float(safe_ratio(e, _ed[m].sum()))
            change, rel = ar - er, ((ar - er) / abs(er) if er else None)
        else:
            change, rel = a - e, ((a - e) / abs(e) if e else None)
        contribution = (total_actual - counterfactual(m)) / total_change if total_change else 0.0
        causes.append(Cause(
            element=Element(conditions), actual=a, expected=e, change=change, relative_change=rel,
            contribution=contribution, leaves=int(m.sum()),
            abnormal_leaves=float(y[m].sum()),
            score=score, actual_ratio=ar, expected_ratio=er,
        ))
    explained = (total_actual - counterfactual(union)) / total_change if total_change and causes else None
    return Localization(
        algorithm=algorithm, kind=table.kind, causes=tuple(causes), total_actual=total_actual,
        total_expected=total_expected, explained_share=explained, noise_scale=noise,
    )
