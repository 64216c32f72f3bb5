"""Proposed monitors for a catalog (``metricloop monitors suggest``).

What a careful analyst would write by hand, from facts the caller reads off the warehouse:

* which metrics: by tier — north-star and primary metrics are watched and sliced, secondary
  ones as a total only, diagnostic ones not at all (they explain, they do not page);
* direction: from the metric's polarity (the monitor leaves ``direction`` unset);
* grain: hourly when the data is timestamped within the day and nearly every hour of the last
  four weeks has a value, else daily (a sparse hour says nothing);
* detectors: a seasonal baseline (same hour of the week / weekday over 8 weeks) once four
  weeks of history exist, else the default detector;
* slices: the dimensions whose values carry the volume — between 2 and 20 values each holding at
  least 5 % of it — ranked by how evenly they split it; ``top_n`` keeps those values.

No IO: :class:`MetricFacts` is measured by the caller (see ``metricloop.scaffold``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metricloop.catalog.models import Grain, Lifecycle, Metric, Tier

#: A value is worth its own series when it holds at least this share of the volume.
MIN_SLICE_SHARE = 0.05
MAX_SLICES = 20
#: Sliced monitors per metric, by tier.
SLICED_DIMENSIONS = {Tier.north_star: 2, Tier.primary: 1, Tier.secondary: 0}
SEASONAL_DAYS = 28
TIER_ZH = {Tier.north_star: "北极星指标", Tier.primary: "主要指标", Tier.secondary: "次要指标",
           Tier.diagnostic: "诊断指标"}
POLARITY_ZH = {"higher_is_better": "越高越好", "lower_is_better": "越低越好", "neutral": "中性"}
GRAIN_ZH = {"minute": "分钟", "hour": "小时", "day": "天", "week": "周", "month": "月"}
EVERY_EN = {"minute": "every minute", "hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}
CN_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "Asia/Urumqi", "PRC"})


@dataclass(frozen=True)
class MetricFacts:
    """What the warehouse says about one metric."""

    metric: Metric
    data_grain: Grain
    history_days: float
    hourly_coverage: float = 0.0  # share of the last 4 weeks' hours with a non-zero value
    slices: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # dim → (value, volume)


@dataclass(frozen=True)
class Suggestion:
    """One proposed monitor and why it looks the way it does."""

    monitor: dict[str, Any]
    why: str
    why_zh: str


def worth_slicing(values: Sequence[tuple[str, float]]) -> list[str]:
    """The values of a dimension that each hold at least :data:`MIN_SLICE_SHARE` of the volume."""
    total = sum(max(v, 0.0) for _, v in values)
    if total <= 0:
        return []
    kept = [k for k, v in sorted(values, key=lambda kv: -kv[1]) if v / total >= MIN_SLICE_SHARE]
    return kept if 2 <= len(kept) <= MAX_SLICES else []


def _evenness(values: Sequence[tuple[str, float]]) -> float:
    """exp(entropy): the effective number of slices (4 equal values → 4.0)."""
    total = sum(max(v, 0.0) for _, v in values)
    shares = [v / total for _, v in values if v > 0] if total > 0 else []
    return math.exp(-sum(p * math.log(p) for p in shares))


def choose_grain(facts: MetricFacts) -> Grain:
    if facts.data_grain.order <= Grain.hour.order and facts.hourly_coverage >= 0.9:
        return Grain.hour
    if facts.data_grain in (Grain.week, Grain.month):
        return facts.data_grain
    return Grain.day


def _monitor(facts: MetricFacts, grain: Grain, by: list[str], top_n: int | None, timezone: str) -> dict[str, Any]:
    m = facts.metric
    hourly = grain is Grain.hour
    seasonal = facts.history_days >= SEASONAL_DAYS and grain in (Grain.hour, Grain.day)
    name = f"{m.name}_by_{'_'.join(by)}" if by else f"{m.name}_total"
    label_zh = m.label.get("zh-CN") if m.label else m.name
    label_en = m.label.get("en") if m.label else m.name
    slice_zh = f"按{'、'.join(by)}" if by else "总量"
    slice_en = f"per {', '.join(by)}" if by else "total"
    spec: dict[str, Any] = {
        "name": name,
        "description": f"{label_zh}{slice_zh}逐{GRAIN_ZH.get(grain.value, grain.value)}监控 · "
        f"{label_en} {slice_en}, {EVERY_EN.get(grain.value, grain.value)}",
        "metric": m.name,
    }
    if by:
        spec["by"] = by
        if top_n:
            spec["top_n"] = top_n
    spec["grain"] = grain.value
    spec["schedule"] = "5 * * * *" if hourly else "0 9 * * *"
    spec["delay"] = "5m" if hourly else "1h"
    if seasonal:
        spec["detectors"] = [{"type": "seasonal", "params": {"warning": 4, "critical": 6} if hourly
                              else {"warning": 3, "critical": 6}}]
    if m.tier is Tier.secondary:
        spec["severity"] = {"min_severity": "critical"}
    noise: dict[str, Any] = (
        {"min_rel_deviation": 0.15, "consecutive": 2, "merge_gap": 2, "cooldown": 6}
        if hourly else {"min_rel_deviation": 0.1, "cooldown": 2}
    )
    if timezone in CN_ZONES:
        noise["calendars"] = ["cn_holidays"]
    spec["noise"] = noise
    spec["labels"] = {"tier": m.tier.value}
    return spec


def suggest_monitors(facts: Sequence[MetricFacts], *, timezone: str = "UTC",
                     existing: Sequence[str] = ()) -> list[Suggestion]:
    """Monitors for the metrics of ``facts``; metrics already watched (``existing``) are skipped."""
    watched = set(existing)
    out: list[Suggestion] = []
    for f in facts:
        m = f.metric
        if m.lifecycle is not Lifecycle.active or m.tier is Tier.diagnostic or m.name in watched:
            continue
        grain = choose_grain(f)
        ranked = sorted(((d, v) for d, v in f.slices.items() if worth_slicing(v)),
                        key=lambda dv: -_evenness(dv[1]))[: SLICED_DIMENSIONS.get(m.tier, 0)]
        base = (f"tier {m.tier.value}, {m.polarity.value}, {grain.value} grain "
                f"({f.history_days:.0f} days of history)")
        base_zh = (f"{TIER_ZH[m.tier]}，{POLARITY_ZH[m.polarity.value]}，按{GRAIN_ZH.get(grain.value, grain.value)}"
                   f"（历史 {f.history_days:.0f} 天）")
        if not ranked:
            out.append(Suggestion(_monitor(f, grain, [], None, timezone), base, base_zh))
            continue
        for dim, values in ranked:
            kept = worth_slicing(values)
            why = f"{base}; {dim}: {len(kept)} values hold ≥ {MIN_SLICE_SHARE:.0%} of the volume each"
            why_zh = f"{base_zh}；{dim}：{len(kept)} 个取值各占量的 {MIN_SLICE_SHARE:.0%} 以上"
            out.append(Suggestion(_monitor(f, grain, [dim], len(kept), timezone), why, why_zh))
    return out
