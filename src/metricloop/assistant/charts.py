"""The chart an answer gets, chosen from the result's shape (ECharts options; no IO).

- one row, one metric → a number card (with the change when the request compares);
- a time column → a line (one series per metric, or per value of one dimension);
- categories → a bar (horizontal when ranked, so the longest bar reads first);
- two metrics on categories or time → a combo (bars + a line on a second axis).

The CLI draws the same rows as a table and a unicode sparkline (:func:`sparkline`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

BARS = "▁▂▃▄▅▆▇█"
PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#ec4899"]


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(float(v)) else None
    return None


def sparkline(values: Sequence[Any]) -> str:
    """``▁▃▅█`` for a series (gaps stay blank)."""
    nums = [_num(v) for v in values]
    present = [n for n in nums if n is not None]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    span = hi - lo or 1.0
    return "".join(" " if n is None else BARS[min(len(BARS) - 1, int((n - lo) / span * (len(BARS) - 1) + 0.5))]
                   for n in nums)


def chart(rows: list[dict[str, Any]], metrics: list[str], dims: list[str], *, labels: dict[str, str],
          time_column: str | None = None, ranked: bool = False, compare: bool = False) -> dict[str, Any]:
    """An ECharts option for ``rows`` (``labels``: column → display name). ``{"type": "number", ...}``
    for a single value: the UI draws it as a card, not a canvas."""
    if not rows or not metrics:
        return {}
    cats = [d for d in dims if d != time_column]
    if len(rows) == 1 and not dims:
        m = metrics[0]
        card: dict[str, Any] = {"type": "number", "metric": m, "label": labels.get(m, m), "value": _num(rows[0].get(m))}
        if compare:
            card.update(previous=_num(rows[0].get(f"{m}__prev")), change=_num(rows[0].get(f"{m}__pct")),
                        delta=_num(rows[0].get(f"{m}__delta")))
        if len(metrics) > 1:
            card["others"] = [{"metric": o, "label": labels.get(o, o), "value": _num(rows[0].get(o))}
                              for o in metrics[1:]]
        return card
    base: dict[str, Any] = {"animation": False, "tooltip": {"trigger": "axis"}, "color": PALETTE,
                            "grid": {"left": 72, "right": 56, "top": 36, "bottom": 40, "containLabel": True}}
    if time_column is not None:
        x = sorted({str(r[time_column])[:19] for r in rows})
        series: list[dict[str, Any]] = []
        if cats:  # one line per value of the first category
            dim = cats[0]
            m = metrics[0]
            groups = sorted({str(r[dim]) for r in rows})
            for g in groups[:12]:
                by_x = {str(r[time_column])[:19]: _num(r.get(m)) for r in rows if str(r[dim]) == g}
                series.append({"type": "line", "name": g, "data": [by_x.get(t) for t in x], "showSymbol": False})
        else:
            for i, m in enumerate(metrics[:2]):
                by_x = {str(r[time_column])[:19]: _num(r.get(m)) for r in rows}
                s: dict[str, Any] = {"type": "line" if i == 0 or len(metrics) == 1 else "bar", "name": labels.get(m, m),
                                     "data": [by_x.get(t) for t in x], "showSymbol": len(x) <= 40}
                if i == 1:
                    s["yAxisIndex"] = 1
                series.append(s)
            if compare and len(metrics) == 1:
                m = metrics[0]
                by_x = {str(r[time_column])[:19]: _num(r.get(f"{m}__prev")) for r in rows}
                series.append({"type": "line", "name": labels.get(f"{m}__prev", f"{m} (prev)"),
                               "data": [by_x.get(t) for t in x], "showSymbol": False, "lineStyle": {"type": "dashed"}})
        y: list[dict[str, Any]] = [{"type": "value", "scale": True}]
        if len(metrics) > 1 and not cats:
            y.append({"type": "value", "scale": True})
        kind = "combo" if len(metrics) > 1 and not cats else "line"
        return {**base, "kind": kind, "legend": {"top": 0},
                "xAxis": {"type": "category", "data": [t[:10] if t.endswith("00:00:00") else t for t in x]},
                "yAxis": y, "series": series}
    if not cats:
        return {}
    names = [" · ".join(str(r[d]) for d in cats) for r in rows]
    if len(metrics) > 1:
        return {**base, "kind": "combo", "legend": {"top": 0}, "xAxis": {"type": "category", "data": names},
                "yAxis": [{"type": "value"}, {"type": "value"}],
                "series": [{"type": "bar", "name": labels.get(metrics[0], metrics[0]),
                            "data": [_num(r.get(metrics[0])) for r in rows]},
                           {"type": "line", "name": labels.get(metrics[1], metrics[1]), "yAxisIndex": 1,
                            "data": [_num(r.get(metrics[1])) for r in rows]}]}
    m = metrics[0]
    series = [{"type": "bar", "name": labels.get(m, m), "data": [_num(r.get(m)) for r in rows]}]
    if compare:
        series.append({"type": "bar", "name": labels.get(f"{m}__prev", f"{m} (prev)"),
                       "data": [_num(r.get(f"{m}__prev")) for r in rows]})
    if ranked:  # horizontal, first at the top
        return {**base, "kind": "bar", "legend": {"top": 0}, "yAxis": {"type": "category", "data": names[::-1]},
                "xAxis": {"type": "value"}, "series": [{**s, "data": s["data"][::-1]} for s in series]}
    return {**base, "kind": "bar", "legend": {"top": 0}, "xAxis": {"type": "category", "data": names},
            "yAxis": {"type": "value"}, "series": series}
