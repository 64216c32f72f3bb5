"""Metric-tree attribution: split a parent metric's change into its drivers' effects.

Standard index-decomposition results (metric catalog §4.2); every exact method's effects sum to
the parent's change to floating precision, estimated ones carry ``exact=False``:

- additive ``Y = Σ ±X_i``: ``C_i = ±ΔX_i`` (plus an explicit residual when the children do not
  add up to the given parent);
- multiplicative ``Y = Π X_i``: LMDI-I, ``C_i = L(Y¹, Y⁰)·ln(X_i¹/X_i⁰)`` with the logarithmic
  mean ``L(a, b) = (a − b)/(ln a − ln b)``; needs positive values, otherwise Shapley (noted);
- ratio across segments ``R = Σn_i/Σd_i = Σ w_i r_i``: mix ``(w_i¹ − w_i⁰)(r_i⁰ + r_i¹)/2`` and
  rate ``(r_i¹ − r_i⁰)(w_i⁰ + w_i¹)/2`` effects (midpoint weights);
- any formula ``f(inputs)``: Shapley values over the inputs, exact from all 2ⁿ evaluations for
  n ≤ 8, estimated from sampled orderings beyond (their sum is still exact, each share is not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from metricloop.errors import QueryError
from metricloop.i18n import Text

Pair = tuple[float, float]
"""(before, after): the value in the baseline period 0 and the compared period 1."""

MAX_EXACT_SHAPLEY = 8


@dataclass(frozen=True)
class Driver:
    """One driver's effect on the parent's change (``kind``: effect, mix, rate or residual)."""

    name: str
    effect: float
    share: float | None
    kind: str = "effect"
    before: float | None = None
    after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "effect": self.effect, "share": self.share,
                "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Attribution:
    method: str
    before: float
    after: float
    drivers: tuple[Driver, ...]
    exact: bool
    notes: tuple[Text, ...] = ()

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def residual(self) -> float:
        """``change − Σ effects``: zero (to rounding) for exact methods."""
        return self.change - math.fsum(d.effect for d in self.drivers)

    def ranked(self) -> list[Driver]:
        return sorted(self.drivers, key=lambda d: -abs(d.effect))

    @property
    def summary(self) -> Text:
        top = self.ranked()[:3]
        label = "" if self.exact else " (estimate)"
        label_zh = "" if self.exact else "（估计值）"
        en = ", ".join(f"{d.name}{'' if d.kind == 'effect' else ' ' + d.kind} {d.effect:+.4g}" for d in top)
        zh = "，".join(f"{d.name}{'' if d.kind == 'effect' else _KIND_ZH.get(d.kind, d.kind)} {d.effect:+.4g}"
                      for d in top)
        method_zh = _METHOD_ZH.get(self.method, self.method)
        return Text(
            en=f"Change {self.change:+.4g} ({self.method}){label}; largest drivers: {en}.",
            zh=f"变化 {self.change:+.4g}（{method_zh}）{label_zh}；主要驱动：{zh}。",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "before": self.before,
            "after": self.after,
            "change": self.change,
            "exact": self.exact,
            "residual": self.residual,
            "drivers": [d.to_dict() for d in self.ranked()],
            "summary": self.summary.to_dict(),
            "notes": [n.to_dict() for n in self.notes],
        }


_KIND_ZH = {"mix": "结构效应", "rate": "比率效应", "residual": "未归因"}
_METHOD_ZH = {"additive": "加法分解", "lmdi": "LMDI 乘法分解", "shapley": "Shapley 分解",
              "shapley_sampled": "Shapley 抽样估计", "mix_rate": "结构/比率分解"}


def _share(effect: float, change: float) -> float | None:
    return effect / change if change != 0 else None


def _drivers(effects: Mapping[str, float], change: float, pairs: Mapping[str, Pair]) -> tuple[Driver, ...]:
    return tuple(Driver(name, e, _share(e, change), before=pairs[name][0], after=pairs[name][1])
                 for name, e in effects.items())


def _check_pairs(values: Mapping[str, Pair], what: str) -> None:
    if not values:
        raise QueryError(f"{what}: no inputs to attribute to", zh=f"{what}：没有可归因的输入")
    for name, pair in values.items():
        if len(pair) != 2 or not all(math.isfinite(float(v)) for v in pair):
            raise QueryError(f"{what}: input {name!r} needs finite (before, after) values, got {pair!r}",
                             zh=f"{what}：输入 {name!r} 需要有限的（基期，当期）数值，实际为 {pair!r}")


# ---------------------------------------------------------------------------------------------


def additive(
    children: Mapping[str, Pair],
    *,
    signs: Mapping[str, int] | None = None,
    parent: Pair | None = None,
) -> Attribution:
    """``Y = Σ sign_i·X_i``: each child's effect is its signed change, exactly.

    When the parent is given and the signed children do not add up to it (a missing segment,
    a late-arriving row), the gap becomes an explicit ``residual`` driver so the total still holds.
    """
    _check_pairs(children, "additive attribution")
    sg = {k: (signs or {}).get(k, 1) for k in children}
    effects = {k: sg[k] * (float(after) - float(before)) for k, (before, after) in children.items()}
    before = math.fsum(sg[k] * float(v[0]) for k, v in children.items())
    after = math.fsum(sg[k] * float(v[1]) for k, v in children.items())
    notes: list[Text] = []
    drivers = list(_drivers(effects, after - before, children))
    if parent is not None:
        p0, p1 = float(parent[0]), float(parent[1])
        gap = (p1 - p0) - (after - before)
        if abs(gap) > 1e-9 * max(1.0, abs(p0), abs(p1)):
            drivers = [Driver(d.name, d.effect, _share(d.effect, p1 - p0), before=d.before, after=d.after)
                       for d in drivers]
            drivers.append(Driver("residual", gap, _share(gap, p1 - p0), kind="residual"))
            notes.append(Text(
                en=f"The children do not add up to the parent; {gap:+.4g} is left as a residual.",
                zh=f"子指标之和与父指标不一致；差额 {gap:+.4g} 记为未归因。",
            ))
        before, after = p0, p1
    return Attribution("additive", before, after, tuple(drivers), exact=True, notes=tuple(notes))


def log_mean(a: float, b: float) -> float:
    """Logarithmic mean L(a, b) = (a − b)/(ln a − ln b), L(a, a) = a; a, b > 0."""
    gap = math.log(a) - math.log(b)
    if a == b or abs(gap) < 1e-12:  # a ≈ b: the limit is a (and the quotient would be 0/0 in floats)
        return (a + b) / 2
    return (a - b) / gap


def product(factors: Mapping[str, Pair]) -> Attribution:
    """``Y = Π X_i`` by LMDI-I (exact, order-free); Shapley when a value is zero or negative."""
    _check_pairs(factors, "product attribution")
    before = math.prod(float(v[0]) for v in factors.values())
    after = math.prod(float(v[1]) for v in factors.values())
    if any(float(v) <= 0 for pair in factors.values() for v in pair):
        names = list(factors)
        res = shapley(lambda x: math.prod(x[n] for n in names),
                      {k: float(v[0]) for k, v in factors.items()},
                      {k: float(v[1]) for k, v in factors.items()})
        note = Text(
            en="LMDI needs positive values; a factor is zero or negative, so Shapley values are used.",
            zh="LMDI 要求取值为正；存在为零或为负的因子，改用 Shapley 分解。",
        )
        return Attribution(res.method, res.before, res.after, res.drivers, res.exact, (*res.notes, note))
    weight = log_mean(after, before)
    effects = {k: weight * math.log(float(v[1]) / float(v[0])) for k, v in factors.items()}
    return Attribution("lmdi", before, after, _drivers(effects, after - before, factors), exact=True)


def mix_rate_effects(
    num0: np.ndarray, den0: np.ndarray, num1: np.ndarray, den1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment mix and rate effects on ``R = Σnum/Σden`` (midpoint weights); they sum to ΔR.

    A segment missing in one period (zero denominator) has no rate there; its rate is taken
    from the other period, so its whole effect is mix (it entered or left the mix).
    """
    n0, d0, n1, d1 = (np.asarray(x, dtype=float) for x in (num0, den0, num1, den1))
    t0, t1 = d0.sum(), d1.sum()
    w0 = d0 / t0 if t0 else np.zeros_like(d0)
    w1 = d1 / t1 if t1 else np.zeros_like(d1)
    r0 = np.divide(n0, d0, out=np.zeros_like(n0), where=d0 != 0)
    r1 = np.divide(n1, d1, out=np.zeros_like(n1), where=d1 != 0)
    r0 = np.where(d0 != 0, r0, r1)
    r1 = np.where(d1 != 0, r1, r0)
    mix = (w1 - w0) * (r0 + r1) / 2
    rate = (r1 - r0) * (w0 + w1) / 2
    return mix, rate


def ratio_mix(segments: Mapping[str, tuple[float, float, float, float]]) -> Attribution:
    """``R = Σnum/Σden`` across segments: each segment's mix and rate effect, exactly.

    ``segments[name] = (num_before, den_before, num_after, den_after)``. Answers "did the rate
    fall because the mix shifted to weaker segments, or because segments got weaker?".
    """
    if not segments:
        raise QueryError("ratio attribution: no segments", zh="比率分解：没有分段")
    arr = np.array([[float(v) for v in seg] for seg in segments.values()], dtype=float)
    if arr.shape[1] != 4 or not np.isfinite(arr).all():
        raise QueryError("ratio attribution: each segment needs finite (num0, den0, num1, den1)",
                         zh="比率分解：每个分段需要有限的（分子基期，分母基期，分子当期，分母当期）")
    bad = [name for name, row in zip(segments, arr, strict=True)
           if (row[1] == 0 and row[0] != 0) or (row[3] == 0 and row[2] != 0)]
    if bad:
        raise QueryError(f"ratio attribution: segment(s) {bad} have a numerator but no denominator",
                         zh=f"比率分解：分段 {bad} 有分子但分母为零")
    n0, d0, n1, d1 = arr.T
    before = float(n0.sum() / d0.sum()) if d0.sum() else 0.0
    after = float(n1.sum() / d1.sum()) if d1.sum() else 0.0
    mix, rate = mix_rate_effects(n0, d0, n1, d1)
    change = after - before
    drivers: list[Driver] = []
    for k, name in enumerate(segments):
        r0 = n0[k] / d0[k] if d0[k] else None
        r1 = n1[k] / d1[k] if d1[k] else None
        drivers.append(Driver(name, float(mix[k]), _share(float(mix[k]), change), "mix",
                              before=float(d0[k] / d0.sum()) if d0.sum() else None,
                              after=float(d1[k] / d1.sum()) if d1.sum() else None))
        drivers.append(Driver(name, float(rate[k]), _share(float(rate[k]), change), "rate",
                              before=None if r0 is None else float(r0),
                              after=None if r1 is None else float(r1)))
    return Attribution("mix_rate", before, after, tuple(drivers), exact=True)


Formula = Callable[[Mapping[str, float]], float]


def _evaluate(formula: Formula, point: Mapping[str, float]) -> float:
    try:
        value = float(formula(point))
    except (ArithmeticError, ValueError) as exc:
        raise QueryError(
            f"formula cannot be evaluated at inputs {dict(point)} ({exc}); Shapley attribution needs it "
            "defined for every mix of before and after values",
            zh=f"公式在输入 {dict(point)} 处无法计算（{exc}）；"
            "Shapley 分解要求在基期与当期取值的任意组合下都有定义",
        ) from exc
    if not math.isfinite(value):
        raise QueryError(
            f"formula gives {value} at inputs {dict(point)}; Shapley attribution needs finite values",
            zh=f"公式在输入 {dict(point)} 处结果为 {value}；Shapley 分解要求结果有限",
        )
    return value


def shapley(
    formula: Formula,
    before: Mapping[str, float],
    after: Mapping[str, float],
    *,
    samples: int = 2000,
    seed: int = 0,
) -> Attribution:
    """Shapley values of ``formula`` over its named inputs switched from ``before`` to ``after``.

    Exact (all 2ⁿ evaluations) for n ≤ 8. Beyond, ``samples`` random orderings (seeded):
    the effects still add up to the change, each one is an estimate (``exact=False``).
    """
    names = list(before)
    if set(names) != set(after):
        raise QueryError(
            f"Shapley attribution: before has inputs {sorted(before)}, after has {sorted(after)}; "
            "they must match",
            zh=f"Shapley 分解：基期输入 {sorted(before)} 与当期输入 {sorted(after)} 不一致",
        )
    _check_pairs({k: (before[k], after[k]) for k in names}, "Shapley attribution")
    n = len(names)
    y0 = _evaluate(formula, dict(before))
    y1 = _evaluate(formula, dict(after))
    pairs = {k: (float(before[k]), float(after[k])) for k in names}

    def point(switched: frozenset[int]) -> dict[str, float]:
        return {k: (after[k] if i in switched else before[k]) for i, k in enumerate(names)}

    if n <= MAX_EXACT_SHAPLEY:
        values: dict[frozenset[int], float] = {}
        for size in range(n + 1):
            for subset in combinations(range(n), size):
                s = frozenset(subset)
                values[s] = y0 if size == 0 else y1 if size == n else _evaluate(formula, point(s))
        fact = [math.factorial(k) for k in range(n + 1)]
        effects: dict[str, float] = {}
        for i, name in enumerate(names):
            terms = []
            for s, v in values.items():
                if i in s:
                    continue
                weight = fact[len(s)] * fact[n - len(s) - 1] / fact[n]
                terms.append(weight * (values[s | {i}] - v))
            effects[name] = math.fsum(terms)
        return Attribution("shapley", y0, y1, _drivers(effects, y1 - y0, pairs), exact=True)

    rng = np.random.default_rng(seed)
    sums = dict.fromkeys(names, 0.0)
    for _ in range(samples):
        order = rng.permutation(n)
        switched: set[int] = set()
        prev = y0
        for idx in order:
            switched.add(int(idx))
            cur = y1 if len(switched) == n else _evaluate(formula, point(frozenset(switched)))
            sums[names[idx]] += cur - prev
            prev = cur
    effects = {k: v / samples for k, v in sums.items()}
    note = Text(
        en=f"{n} inputs: Shapley values estimated from {samples} sampled orderings (seed {seed}).",
        zh=f"共 {n} 个输入：Shapley 值由 {samples} 个随机排列估计（种子 {seed}）。",
    )
    drivers = _drivers(effects, y1 - y0, pairs)
    return Attribution("shapley_sampled", y0, y1, drivers, exact=False, notes=(note,))
