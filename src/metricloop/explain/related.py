"""Related anomalies: which other abnormal metrics and slices belong to the same story.

Given the target anomaly and other anomaly events, rank the others by

- time proximity: 1 when the windows overlap, decaying as ``exp(−gap / scale)`` with the gap
  between the windows (``scale`` defaults to the target's duration, at least one hour);
- relation: for the same metric, how the slices relate (a sub-slice or the parent slice of the
  target is closer than an unrelated slice of it); for other metrics, the distance in the metric
  tree (a direct driver or parent first, then siblings and further), halved when the slices
  contradict each other (``province=浙江`` vs ``province=江苏``);
- the event's own score, lightly (a quarter of the weight), so a strong anomaly ranks above a
  marginal one with the same time and relation.

``score = time × relation × (0.75 + 0.25 × score / max score)``; every factor is reported.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from metricloop.i18n import Text

SliceItems = tuple[tuple[str, str], ...]


def _slice(items: Mapping[str, str] | SliceItems | None) -> SliceItems:
    if not items:
        return ()
    pairs = items.items() if isinstance(items, Mapping) else items
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


@dataclass(frozen=True)
class AnomalyEvent:
    """An anomaly of ``metric`` on ``slice`` (``{}`` = the total) between ``start`` and ``end``."""

    metric: str
    slice: SliceItems
    start: datetime
    end: datetime
    score: float = 1.0
    id: str | None = None

    @classmethod
    def of(cls, metric: str, slice: Mapping[str, str] | None, start: datetime, end: datetime | None = None,
           score: float = 1.0, id: str | None = None) -> AnomalyEvent:
        return cls(metric, _slice(slice), start, end or start, score, id)

    def slice_text(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.slice) or "*"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "metric": self.metric, "slice": dict(self.slice), "start": self.start,
                "end": self.end, "score": self.score}


@dataclass(frozen=True)
class TreeEdge:
    """Metric-tree edge: ``child`` drives ``parent`` (relation: additive, multiplicative, ratio_*...)."""

    parent: str
    child: str
    relation: str = "influence"


@dataclass(frozen=True)
class RelatedAnomaly:
    event: AnomalyEvent
    score: float
    time_score: float
    relation_score: float
    relation: str
    tree_distance: int | None
    gap_seconds: float
    reason: Text

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event.to_dict(), "score": self.score, "time_score": self.time_score,
                "relation_score": self.relation_score, "relation": self.relation,
                "tree_distance": self.tree_distance, "gap_seconds": self.gap_seconds,
                "reason": self.reason.to_dict()}


# relation → (score, English, Chinese)
RELATIONS: dict[str, tuple[float, str, str]] = {
    "sub_slice": (0.9, "a sub-slice of the target", "目标切片的子切片"),
    "parent_slice": (0.9, "the slice containing the target", "包含目标切片的上级切片"),
    "overlapping_slice": (0.7, "an overlapping slice of the same metric", "同一指标的交叠切片"),
    "same_slice": (0.6, "the same metric and slice, another window", "同一指标同一切片的另一时段"),
    "other_slice": (0.4, "another slice of the same metric", "同一指标的其他切片"),
    "driver": (0.8, "a driver of the target metric", "目标指标的驱动指标"),
    "parent_metric": (0.8, "a metric the target drives", "目标指标所驱动的上级指标"),
    "sibling": (0.6, "a sibling in the metric tree", "指标树中的兄弟指标"),
    "tree": (0.4, "connected in the metric tree", "在指标树中相连"),
    "unrelated": (0.1, "not connected in the metric tree", "与目标在指标树中不相连"),
}


def slice_relation(target: SliceItems, other: SliceItems) -> str:
    t, o = dict(target), dict(other)
    if t == o:
        return "same_slice"
    if any(k in o and o[k] != v for k, v in t.items()):
        return "other_slice"
    if set(t.items()) <= set(o.items()):
        return "sub_slice"
    if set(o.items()) <= set(t.items()):
        return "parent_slice"
    return "overlapping_slice"


def _graph(edges: Sequence[TreeEdge]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    children: dict[str, set[str]] = {}
    parents: dict[str, set[str]] = {}
    for e in edges:
        children.setdefault(e.parent, set()).add(e.child)
        parents.setdefault(e.child, set()).add(e.parent)
    return children, parents


def _distances(start: str, children: dict[str, set[str]], parents: dict[str, set[str]]) -> dict[str, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in children.get(node, set()) | parents.get(node, set()):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    return dist


def _gap(a: AnomalyEvent, b: AnomalyEvent) -> float:
    if b.start > a.end:
        return (b.start - a.end).total_seconds()
    if a.start > b.end:
        return (a.start - b.end).total_seconds()
    return 0.0


def rank_related(
    target: AnomalyEvent,
    events: Sequence[AnomalyEvent],
    edges: Sequence[TreeEdge] = (),
    *,
    time_scale: timedelta | None = None,
    limit: int | None = None,
) -> list[RelatedAnomaly]:
    """Rank ``events`` by how likely they belong with ``target`` (the target itself is skipped)."""
    scale = (time_scale or max(target.end - target.start, timedelta(hours=1))).total_seconds()
    children, parents = _graph(edges)
    dist = _distances(target.metric, children, parents)
    max_score = max((abs(e.score) for e in events), default=1.0) or 1.0
    out: list[RelatedAnomaly] = []
    for ev in events:
        if ev == target or (ev.id is not None and ev.id == target.id):
            continue
        gap = _gap(target, ev)
        time_score = math.exp(-gap / scale) if scale > 0 else (1.0 if gap == 0 else 0.0)
        distance: int | None
        if ev.metric == target.metric:
            relation, distance = slice_relation(target.slice, ev.slice), 0
            rel_score = RELATIONS[relation][0]
        else:
            distance = dist.get(ev.metric)
            if distance is None:
                relation = "unrelated"
            elif distance == 1:
                relation = "driver" if ev.metric in children.get(target.metric, set()) else "parent_metric"
            elif distance == 2 and parents.get(ev.metric, set()) & parents.get(target.metric, set()):
                relation = "sibling"
            else:
                relation = "tree"
            rel_score = RELATIONS[relation][0] / (1 if distance is None or distance <= 2 else distance - 1)
            if slice_relation(target.slice, ev.slice) == "other_slice":
                rel_score /= 2
        score = time_score * rel_score * (0.75 + 0.25 * min(1.0, abs(ev.score) / max_score))
        _, en, zh = RELATIONS[relation]
        when_en = "overlapping in time" if gap == 0 else f"{gap / 3600:.1f} h apart"
        when_zh = "时间重叠" if gap == 0 else f"相隔 {gap / 3600:.1f} 小时"
        reason = Text(en=f"{ev.metric} [{ev.slice_text()}]: {en}, {when_en}.",
                      zh=f"{ev.metric} [{ev.slice_text()}]：{zh}，{when_zh}。")
        out.append(RelatedAnomaly(ev, score, time_score, rel_score, relation, distance, gap, reason))
    out.sort(key=lambda r: (-r.score, r.gap_seconds, r.event.metric))
    return out[:limit] if limit is not None else out
