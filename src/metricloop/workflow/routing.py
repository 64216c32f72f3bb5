"""What the workflow reads off the catalog and the alerts to judge an incident: the metric tree
(which metrics tell of one event), the cause an alert's explanation names (who should own it),
and, back from the audit trail, why the owner was chosen.

The decisions themselves are pure (:mod:`metricloop.workflow.grouping`,
:func:`metricloop.workflow.owners.route`); this module only gathers their inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from metricloop.catalog.models import Tier
from metricloop.workflow.grouping import DOMINANT, AlertInput, MetricTree

if TYPE_CHECKING:
    from metricloop.catalog.catalog import Catalog

__all__ = ["DOMINANT", "TIER_RANK", "cause_of", "cause_slice", "metric_tree", "routing_basis", "routing_of"]

TIER_RANK = {Tier.north_star.value: 0, Tier.primary.value: 1, Tier.secondary.value: 2, Tier.diagnostic.value: 3}


def metric_tree(catalog: Catalog) -> MetricTree:
    """The catalog's metric tree for grouping: exact edges (ratio parts, formula inputs, a
    cumulative's input) and declared drivers; tiers rank roots that are not above each other."""
    from metricloop.catalog.tree import edges

    tiers = {name: TIER_RANK.get(str(getattr(m.tier, "value", m.tier)), 9) for name, m in catalog.metrics.items()}
    return MetricTree.from_edges(((e.parent, e.child) for e in edges(catalog)), tiers)


def cause_slice(explanation: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The full slice an explanation names as the first cause (None: leading slices or nothing)."""
    if not explanation or explanation.get("kind") != "causes":
        return None
    slices = explanation.get("slices") or []
    if not slices or not isinstance(slices[0], Mapping):
        return None
    return {str(k): str(v) for k, v in slices[0].items()}


def routing_basis(explanation: Mapping[str, Any] | None) -> tuple[dict[str, str], str] | None:
    """The slice to route by and what it is: the first cause (``cause``), or, when localization
    found nothing significant, a leading slice that alone carries :data:`DOMINANT` of the change
    (``leading``: e.g. ``platform=app`` at 98 % that the search left below significance)."""
    found = cause_slice(explanation)
    if found:
        return found, "cause"
    if not explanation or explanation.get("kind") != "leading_slices":
        return None
    slices, shares = explanation.get("slices") or [], explanation.get("contributions") or []
    if slices and shares and isinstance(shares[0], int | float) and shares[0] >= DOMINANT \
            and isinstance(slices[0], Mapping):
        return {str(k): str(v) for k, v in slices[0].items()}, "leading"
    return None


def cause_of(alerts: Sequence[AlertInput], metric: str) -> tuple[dict[str, str], str] | None:
    """What to route an incident of ``metric`` by (:func:`routing_basis`): a cause named by an alert
    of that metric (the largest impact first), else by any of its alerts; else a dominant leading
    slice in the same order."""
    ranked = sorted(alerts, key=lambda a: (a.metric != metric, -abs(a.impact or 0.0)))
    bases = [b for b in (routing_basis(a.explanation) for a in ranked) if b is not None]
    return next((b for b in bases if b[1] == "cause"), bases[0] if bases else None)


def routing_of(audit: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Why the incident has its owner: the ``routing`` recorded by the latest event that set it
    (opened, an assignment the loop made when the cause became clear, or ``routing``: the same
    owner for a new reason). A person's manual assignment has no routing: it says who did it."""
    found: dict[str, Any] | None = None
    for e in audit:
        after = e.get("after") or {}
        if e.get("kind") in ("opened", "routing") and isinstance(after.get("routing"), Mapping):
            found = dict(after["routing"])
        elif e.get("kind") == "assign":
            routing = after.get("routing")
            found = dict(routing) if isinstance(routing, Mapping) else {
                "owner": after.get("owner"), "team": after.get("team"), "by": "person", "actor": e.get("actor"),
                "reason": {"en": f"assigned by {e.get('actor')}", "zh-CN": f"由 {e.get('actor')} 指派"}}
    return found
