"""One-dimension drill-down: for every dimension, which values moved the metric, and by how much.

Per value: actual vs expected, change, contribution to the total change, share change, and
Adtributor's explanatory power and surprise (Bhagwan et al., NSDI 2014). Values are ranked by
the size of their contribution (impact), not by relative change alone: a −90 % slice that holds
0.1 % of the volume matters less than a −5 % slice that holds half of it. Values past ``top``
are folded into one "other" row so the rows still add up to the total. Dimensions are ranked by
their total surprise (how much the distribution over that dimension shifted).

Additive metric: contribution = explanatory power = ``Δ_value / Δ_total``.
Ratio metric: contribution = (mix + rate effect) / ΔR with midpoint weights (exact: the values'
contributions sum to 1); explanatory power = Adtributor's for derived measures, the share of ΔR
obtained when only this value moves from expected to actual; surprise sums the numerator's and
the denominator's Jensen-Shannon terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from metricloop.explain.attribution import mix_rate_effects
from metricloop.explain.frame import LeafTable, MetricKind, leaf_table, safe_ratio
from metricloop.explain.localization import js_surprise
from metricloop.i18n import Text

OTHER = "__other__"
OTHER_LABEL = Text(en="(other)", zh="（其他）")


@dataclass(frozen=True)
class ValueRow:
    dimension: str
    value: str
    actual: float
    expected: float
    change: float
    relative_change: float | None
    contribution: float | None
    share_actual: float
    share_expected: float
    share_change: float
    explanatory_power: float | None
    surprise: float
    is_other: bool = False
    members: int = 1
    actual_den: float | None = None
    expected_den: float | None = None
    mix_effect: float | None = None
    rate_effect: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "dimension", "value", "actual", "expected", "change", "relative_change", "contribution",
            "share_actual", "share_expected", "share_change", "explanatory_power", "surprise",
            "is_other", "members")}
        if self.actual_den is not None:
            out.update(actual_den=self.actual_den, expected_den=self.expected_den,
                       mix_effect=self.mix_effect, rate_effect=self.rate_effect)
        return out


@dataclass(frozen=True)
class DimensionBreakdown:
    dimension: str
    surprise: float
    values: int
    rows: tuple[ValueRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "surprise": self.surprise, "values": self.values,
                "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class DrillDown:
    kind: MetricKind | Literal["non_additive"]
    total_actual: float
    total_expected: float
    dimensions: tuple[DimensionBreakdown, ...]

    @property
    def total_change(self) -> float:
        return self.total_actual - self.total_expected

    @property
    def relative_change(self) -> float | None:
        return self.total_change / abs(self.total_expected) if self.total_expected else None

    def dimension(self, name: str) -> DimensionBreakdown:
        for d in self.dimensions:
            if d.dimension == name:
                return d
        raise KeyError(name)

    @property
    def summary(self) -> Text:
        rel = self.relative_change
        head_en = f"Change {self.total_change:+.4g}" + (f" ({rel:+.1%})" if rel is not None else "")
        head_zh = f"变化 {self.total_change:+.4g}" + (f"（{rel:+.1%}）" if rel is not None else "")
        if not self.dimensions or not self.dimensions[0].rows or self.total_change == 0:
            return Text(en=f"{head_en}.", zh=f"{head_zh}。")
        dim = self.dimensions[0]
        top = next((r for r in dim.rows if not r.is_other), dim.rows[0])
        share = "n/a" if top.contribution is None else f"{top.contribution:.0%}"
        return Text(
            en=f"{head_en}; by {dim.dimension}, {top.value} contributes {share} of it "
               f"({top.actual:.4g} vs {top.expected:.4g} expected).",
            zh=f"{head_zh}；按 {dim.dimension} 拆分，{top.value} 贡献了其中的 {share}"
               f"（实际 {top.actual:.4g}，预期 {top.expected:.4g}）。",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "additive": self.kind != "non_additive",
            "total_actual": self.total_actual,
            "total_expected": self.total_expected,
            "total_change": self.total_change,
            "relative_change": self.relative_change,
            "dimensions": [d.to_dict() for d in self.dimensions],
            "summary": self.summary.to_dict(),
        }


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def _rows_for(table: LeafTable, j: int) -> list[ValueRow]:
    inv, codes = table.cuboid_index((j,))
    n = len(codes)
    a = np.bincount(inv, weights=table.actual, minlength=n)
    e = np.bincount(inv, weights=table.expected, minlength=n)
    labels = [str(table.labels[j][c[0]]) for c in codes]
    dim = table.dims[j]
    rows: list[ValueRow] = []
    if table.kind == "additive":
        ta, te = float(a.sum()), float(e.sum())
        change = ta - te
        sa = a / ta if ta else np.zeros(n)
        se = e / te if te else np.zeros(n)
        surprise = js_surprise(se, sa)
        for k in range(n):
            contrib = _div(float(a[k] - e[k]), change)
            delta = float(a[k] - e[k])
            rows.append(ValueRow(dim, labels[k], float(a[k]), float(e[k]), delta,
                                 _div(delta, abs(float(e[k]))), contrib, float(sa[k]), float(se[k]),
                                 float(sa[k] - se[k]), contrib, float(surprise[k])))
        return rows
    _ad, _ed = table.dens()
    ad = np.bincount(inv, weights=_ad, minlength=n)
    ed = np.bincount(inv, weights=_ed, minlength=n)
    tan, ten, tad, ted = float(a.sum()), float(e.sum()), float(ad.sum()), float(ed.sum())
    r_actual, r_expected = float(safe_ratio(tan, tad)), float(safe_ratio(ten, ted))
    change = r_actual - r_expected
    mix, rate = mix_rate_effects(e, ed, a, ad)
    # Adtributor's EP for a derived measure: only this value moves from expected to actual
    only = safe_ratio(ten + (a - e), ted + (ad - ed))
    ep = (only - r_expected) / change if change else np.full(n, np.nan)
    sa = ad / tad if tad else np.zeros(n)
    se = ed / ted if ted else np.zeros(n)
    surprise = js_surprise(_norm(e), _norm(a)) + js_surprise(se, sa)
    ra, re_ = safe_ratio(a, ad), safe_ratio(e, ed)
    for k in range(n):
        contrib = _div(float(mix[k] + rate[k]), change)
        rows.append(ValueRow(
            dim, labels[k], float(ra[k]), float(re_[k]), float(ra[k] - re_[k]),
            _div(float(ra[k] - re_[k]), abs(float(re_[k]))), contrib, float(sa[k]), float(se[k]),
            float(sa[k] - se[k]), None if not change else float(ep[k]), float(surprise[k]),
            actual_den=float(ad[k]), expected_den=float(ed[k]),
            mix_effect=float(mix[k]), rate_effect=float(rate[k]),
        ))
    return rows


def _norm(v: np.ndarray) -> np.ndarray:
    s = v.sum()
    return v / s if s else np.zeros_like(v)


def _other(rows: Sequence[ValueRow], kind: MetricKind, total_change: float) -> ValueRow:
    """Fold rows into one; sums keep every additive field exact."""
    dim = rows[0].dimension
    surprise = float(sum(r.surprise for r in rows))
    sa = float(sum(r.share_actual for r in rows))
    se = float(sum(r.share_expected for r in rows))
    if kind == "additive":
        a = float(sum(r.actual for r in rows))
        e = float(sum(r.expected for r in rows))
        contrib = _div(a - e, total_change)
        return ValueRow(dim, OTHER, a, e, a - e, _div(a - e, abs(e)), contrib, sa, se, sa - se, contrib,
                        surprise, is_other=True, members=len(rows))
    ad = float(sum(r.actual_den or 0.0 for r in rows))
    ed = float(sum(r.expected_den or 0.0 for r in rows))
    num_a = float(sum(r.actual * (r.actual_den or 0.0) for r in rows))
    num_e = float(sum(r.expected * (r.expected_den or 0.0) for r in rows))
    ra, re_ = float(safe_ratio(num_a, ad)), float(safe_ratio(num_e, ed))
    mix = float(sum(r.mix_effect or 0.0 for r in rows))
    rate = float(sum(r.rate_effect or 0.0 for r in rows))
    ep_values = [r.explanatory_power for r in rows if r.explanatory_power is not None]
    return ValueRow(dim, OTHER, ra, re_, ra - re_, _div(ra - re_, abs(re_)), _div(mix + rate, total_change),
                    sa, se, sa - se, float(sum(ep_values)) if ep_values else None, surprise,
                    is_other=True, members=len(rows), actual_den=ad, expected_den=ed,
                    mix_effect=mix, rate_effect=rate)


def drill_down(frame: pd.DataFrame, dims: Sequence[str] | None = None, *, top: int = 10) -> DrillDown:
    """Break the change down by each dimension; ``top`` values per dimension, the rest as "other"."""
    table = leaf_table(frame, dims)
    return drill_down_table(table, top=top)


def drill_down_table(table: LeafTable, *, top: int = 10) -> DrillDown:
    if table.kind == "ratio":
        _ad, _ed = table.dens()
        total_a = float(safe_ratio(table.actual.sum(), _ad.sum()))
        total_e = float(safe_ratio(table.expected.sum(), _ed.sum()))
    else:
        total_a, total_e = float(table.actual.sum()), float(table.expected.sum())
    change = total_a - total_e
    out: list[DimensionBreakdown] = []
    for j in range(len(table.dims)):
        rows = _rows_for(table, j)
        rows.sort(key=lambda r: (-abs(r.contribution or 0.0), -abs(r.change), r.value))
        kept, rest = rows[:top], rows[top:]
        if len(rest) == 1:
            kept, rest = rows, []
        if rest:
            kept.append(_other(rest, table.kind, change))
        total_surprise = float(sum(r.surprise for r in rows))
        out.append(DimensionBreakdown(table.dims[j], total_surprise, len(rows), tuple(kept)))
    out.sort(key=lambda d: -d.surprise)
    return DrillDown(table.kind, total_a, total_e, tuple(out))


def drill_down_values(
    per_dimension: Mapping[str, pd.DataFrame], total_actual: float, total_expected: float, *, top: int = 10
) -> DrillDown:
    """Drill-down of a metric whose slices do not add up (distinct counts, filtered rates).

    ``per_dimension`` maps each dimension to a table with columns ``value``, ``actual``,
    ``expected``: the metric computed by the warehouse per value (one GROUP BY per dimension).
    The values' changes need not sum to the total's (a buyer active in two channels counts in
    both), so ``contribution`` is each value's change over the total change, *not* a share that
    adds up to 100 %; rows past ``top`` are dropped, not folded into "other" (there is nothing
    to sum). Surprise compares the values' normalised distributions, as for additive metrics.
    """
    change = total_actual - total_expected
    out: list[DimensionBreakdown] = []
    for dim, frame in per_dimension.items():
        values = frame["value"].astype(str).to_numpy()
        a = pd.to_numeric(frame["actual"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        e = pd.to_numeric(frame["expected"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        sa, se = _norm(np.abs(a)), _norm(np.abs(e))
        surprise = js_surprise(se, sa)
        rows = [
            ValueRow(dim, str(values[k]), float(a[k]), float(e[k]), float(a[k] - e[k]),
                     _div(float(a[k] - e[k]), abs(float(e[k]))), _div(float(a[k] - e[k]), change),
                     float(sa[k]), float(se[k]), float(sa[k] - se[k]), None, float(surprise[k]))
            for k in range(len(values))
        ]
        rows.sort(key=lambda r: (-abs(r.change), r.value))
        out.append(DimensionBreakdown(dim, float(surprise.sum()), len(rows), tuple(rows[:top])))
    out.sort(key=lambda d: -d.surprise)
    return DrillDown("non_additive", total_actual, total_expected, tuple(out))
