from __future__ import annotations

from metricloop.catalog.catalog import load_catalog
from metricloop.catalog.tree import edges, tree
from metricloop.scaffold import DEMO_TEMPLATE
from metricloop.service import MetricLoop


def test_edges_come_from_formulas_and_declared_drivers() -> None:
    catalog = load_catalog(DEMO_TEMPLATE)
    got = {(e.parent, e.child, e.relation.value, e.sign, e.derived) for e in edges(catalog)}
    assert ("aov", "gmv", "ratio_numerator", 1, True) in got
    assert ("aov", "orders", "ratio_denominator", -1, True) in got
    assert ("net_gmv", "gmv", "additive", 1, True) in got
    assert ("net_gmv", "refund_amount", "additive", -1, True) in got
    assert ("gmv", "conversion_rate", "multiplicative", 1, False) in got


def test_tree_walks_down_and_marks_repeats(tiny: MetricLoop) -> None:
    root = tree(tiny.catalog, "aov").to_dict()
    assert [c["metric"] for c in root["children"]] == ["gmv", "orders"]
    demo = tree(load_catalog(DEMO_TEMPLATE), "gmv").to_dict()
    aov = next(c for c in demo["children"] if c["metric"] == "aov")
    assert any(c["metric"] == "gmv" and c["repeated"] for c in aov["children"])
