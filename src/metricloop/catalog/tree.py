"""The metric tree: which metrics drive which, and how.

Exact edges come from the definitions themselves (a ratio's numerator and denominator, the
terms of a derived formula); declared ``drivers`` add influence edges that are never mixed
into exact attribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metricloop.catalog.catalog import Catalog, formula_edges
from metricloop.catalog.models import MetricType, Relation


@dataclass(frozen=True)
class Edge:
    parent: str
    child: str
    relation: Relation
    sign: int = 1  # +1/-1 for additive terms; exponent ±1 for multiplicative ones
    derived: bool = True  # read off the formula (exact) vs declared

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent": self.parent,
            "child": self.child,
            "relation": self.relation.value,
            "sign": self.sign,
            "derived": self.derived,
        }


def edges(catalog: Catalog) -> list[Edge]:
    out: list[Edge] = []
    for metric in catalog.metrics.values():
        if metric.type is MetricType.ratio and metric.numerator and metric.denominator:
            out.append(Edge(metric.name, metric.numerator.name, Relation.ratio_numerator, 1))
            out.append(Edge(metric.name, metric.denominator.name, Relation.ratio_denominator, -1))
        elif metric.type is MetricType.derived:
            refs = {i.ref: i.name for i in metric.input_metrics}
            seen = set()
            for ref, relation, sign in formula_edges(metric):
                child = refs.get(ref, ref)
                if (child, relation) in seen:
                    continue
                seen.add((child, relation))
                out.append(Edge(metric.name, child, Relation(relation), sign))
        elif metric.type is MetricType.cumulative and metric.input_metric:
            out.append(Edge(metric.name, metric.input_metric.name, Relation.formula, 1))
        for d in metric.drivers:
            out.append(Edge(metric.name, d.metric, d.relation, d.sign, derived=False))
    return out


@dataclass
class TreeNode:
    metric: str
    relation: str | None = None
    sign: int = 1
    derived: bool = True
    repeated: bool = False  # already shown above (declared drivers can point back up the tree)
    children: list[TreeNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "relation": self.relation,
            "sign": self.sign,
            "derived": self.derived,
            "repeated": self.repeated,
            "children": [c.to_dict() for c in self.children],
        }


def tree(catalog: Catalog, root: str, depth: int = 6) -> TreeNode:
    """The driver tree below ``root`` (cycles cannot occur: the catalog rejects them)."""
    catalog.metric(root)
    by_parent: dict[str, list[Edge]] = {}
    for e in edges(catalog):
        by_parent.setdefault(e.parent, []).append(e)

    def build(name: str, edge: Edge | None, level: int, seen: frozenset[str]) -> TreeNode:
        node = TreeNode(
            name, edge.relation.value if edge else None, edge.sign if edge else 1, edge.derived if edge else True
        )
        if level < depth:
            for e in by_parent.get(name, []):
                if e.child in seen:
                    node.children.append(TreeNode(e.child, e.relation.value, e.sign, e.derived, repeated=True))
                else:
                    node.children.append(build(e.child, e, level + 1, seen | {e.child}))
        return node

    return build(root, None, 0, frozenset({root}))


def parents(catalog: Catalog, metric: str) -> list[Edge]:
    return [e for e in edges(catalog) if e.child == metric]
