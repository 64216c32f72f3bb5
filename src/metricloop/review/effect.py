"""Effect verification: did the metric recover after the action, compared with what was expected?

Inputs are two aligned arrays — the metric as it happened (``actual``) and the counterfactual
(``expected``: the detector's baseline or forecast, i.e. what the metric would have been without
the incident) — and the index where the action took effect. The gap ``actual − expected``
before that index is the damage; after it, what is left of the damage.

- ``recovery`` = 1 − mean gap after / mean gap before: the share of the shortfall that is gone
  (1 = fully back to expected, 0 = no better, < 0 = worse).
- ``effect`` = mean gap after − mean gap before, in the metric's unit (what the action changed).
- Confidence intervals come from a moving-block bootstrap of the gaps (blocks keep the
  autocorrelation of hourly/daily series that an i.i.d. bootstrap would ignore), seeded, so the
  same inputs give the same answer.

Verdict: ``recovered`` when the point estimate recovers at least ``recovered_share`` (80%) and the
interval rules out recovering less than ``partial_share`` (30%); ``partially_recovered`` when the
improvement is significant (interval above 0) and at least ``partial_share``; otherwise
``not_recovered``. ``insufficient_data`` when either side has fewer than ``min_points`` points.
When there was no measurable damage before (the interval of the gap before includes 0) the
verdict is ``recovered`` if the interval of the gap after includes 0 too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metricloop.i18n import Text

VERDICTS = ("recovered", "partially_recovered", "not_recovered", "insufficient_data")
VERDICT_LABELS = {
    "recovered": Text(en="recovered", zh="已恢复"),
    "partially_recovered": Text(en="partially recovered", zh="部分恢复"),
    "not_recovered": Text(en="not recovered", zh="未恢复"),
    "insufficient_data": Text(en="insufficient data", zh="数据不足"),
}


@dataclass(frozen=True)
class EffectResult:
    verdict: str
    recovery: float | None
    recovery_ci: tuple[float, float] | None
    gap_before: float | None
    gap_after: float | None
    gap_after_ci: tuple[float, float] | None
    effect: float | None
    effect_ci: tuple[float, float] | None
    relative_gap_after: float | None  # gap after / mean expected after
    n_before: int
    n_after: int
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self, locale: str = "zh-CN") -> str:
        label = VERDICT_LABELS[self.verdict].render(locale)
        if self.recovery is None or self.recovery_ci is None:
            return label
        lo, hi = self.recovery_ci
        pct = Text(en="{label}: {r:.0%} of the shortfall recovered ({c:.0%} CI {lo:.0%} … {hi:.0%})",
                   zh="{label}：恢复了 {r:.0%} 的缺口（{c:.0%} 置信区间 {lo:.0%} … {hi:.0%}）")
        return pct.render(locale, label=label, r=self.recovery, c=self.confidence, lo=lo, hi=hi)


def _block_means(x: NDArray[np.float64], n_boot: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Means of ``n_boot`` moving-block bootstrap resamples of ``x`` (block ≈ n^(1/3))."""
    n = len(x)
    block = max(1, round(n ** (1 / 3)))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)[:, :n]
    return x[idx].mean(axis=1)


def verify_effect(
    actual: ArrayLike,
    expected: ArrayLike,
    effective_index: int,
    *,
    start_index: int = 0,
    end_index: int | None = None,
    confidence: float = 0.9,
    recovered_share: float = 0.8,
    partial_share: float = 0.3,
    noise: float | None = None,
    min_points: int = 3,
    n_boot: int = 2000,
    seed: int = 0,
) -> EffectResult:
    """Compare ``actual`` with ``expected`` before ``[start_index, effective_index)`` and after
    ``[effective_index, end_index)`` the action. ``noise``: the typical size of a normal gap (e.g.
    half the detector's band); estimated from the after-window when not given. NaNs are ignored."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape or a.ndim != 1:
        raise ValueError(f"actual and expected must be 1-D arrays of one length, got {a.shape} and {e.shape}")
    end = len(a) if end_index is None else end_index
    gap = a - e
    before = gap[start_index:effective_index]
    after = gap[effective_index:end]
    exp_after = e[effective_index:end]
    before = before[~np.isnan(before)]
    ok = ~np.isnan(after)
    after, exp_after = after[ok], exp_after[ok]
    n_b, n_a = len(before), len(after)
    if n_b < min_points or n_a < min_points:
        return EffectResult("insufficient_data", None, None, None, None, None, None, None, None, n_b, n_a, confidence)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    boot_b = _block_means(before, n_boot, rng)
    boot_a = _block_means(after, n_boot, rng)

    def ci(x: NDArray[np.float64]) -> tuple[float, float]:
        lo, hi = np.quantile(x, [alpha, 1 - alpha])
        return float(lo), float(hi)

    gb, ga = float(before.mean()), float(after.mean())
    mean_exp = float(np.abs(exp_after).mean()) or 1.0
    scale = noise if noise is not None else float(np.std(after, ddof=1)) if n_a > 1 else 0.0
    effect, effect_ci = ga - gb, ci(boot_a - boot_b)

    def result(verdict: str, recovery: float | None, rec_ci: tuple[float, float] | None) -> EffectResult:
        return EffectResult(verdict, recovery, rec_ci, gb, ga, ci(boot_a), effect, effect_ci, ga / mean_exp,
                            n_b, n_a, confidence)

    b_lo, b_hi = ci(boot_b)
    if b_lo <= 0 <= b_hi or abs(gb) <= max(scale, 1e-12) / np.sqrt(n_b):  # no measurable damage
        lo, hi = ci(boot_a)
        verdict = "recovered" if lo <= 0 <= hi else "not_recovered"
        return result(verdict, None, None)
    # boot draws whose "before" mean crossed zero would flip the sign: measure against the point gap
    recovery = 1 - ga / gb
    boot_rec = 1 - boot_a / np.where(np.sign(boot_b) == np.sign(gb), boot_b, gb)
    r_lo, r_hi = ci(boot_rec)
    if recovery >= recovered_share and r_lo >= partial_share:
        verdict = "recovered"
    elif recovery >= partial_share and r_lo > 0:
        verdict = "partially_recovered"
    else:
        verdict = "not_recovered"
    return result(verdict, recovery, (r_lo, r_hi))


def effective_index(timestamps: Sequence[object] | NDArray[Any], effective_at: object) -> int:
    """Index of the first timestamp at or after ``effective_at`` (numpy datetime64 comparison)."""
    ts = np.asarray(timestamps).astype("datetime64[ns]")
    at = np.datetime64(effective_at).astype("datetime64[ns]")  # type: ignore[call-overload]
    return int(np.searchsorted(ts, at, side="left"))
