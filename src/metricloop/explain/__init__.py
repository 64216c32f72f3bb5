"""Cause analysis (原因分析): pure functions over aggregates, no IO.

- :func:`drill_down` — per dimension, each value's change, contribution, share change,
  explanatory power and surprise (:func:`drill_down_values` for metrics that do not add up);
- :func:`localize` — the smallest set of slices across cuboids that explains the change
  (``ours``: ripple cover, with volume-aware noise and pooling of small leaves from
  :mod:`~metricloop.explain.noise`; ``adtributor``: the published baseline);
- :mod:`~metricloop.explain.attribution` — metric-tree attribution (additive, LMDI, mix/rate,
  Shapley);
- :func:`rank_related` — related anomalies by time proximity and metric-tree relation.

Input tables: see :mod:`metricloop.explain.frame`.
"""

from metricloop.explain import attribution
from metricloop.explain.attribution import Attribution, Driver
from metricloop.explain.drilldown import DimensionBreakdown, DrillDown, ValueRow, drill_down, drill_down_values
from metricloop.explain.frame import LeafTable, leaf_table, metric_kind
from metricloop.explain.localization import (
    LOCALIZERS,
    Cause,
    Element,
    Localization,
    LocalizeConfig,
    localize,
    register_localizer,
)
from metricloop.explain.related import AnomalyEvent, RelatedAnomaly, TreeEdge, rank_related

__all__ = [
    "LOCALIZERS",
    "AnomalyEvent",
    "Attribution",
    "Cause",
    "DimensionBreakdown",
    "DrillDown",
    "Driver",
    "Element",
    "LeafTable",
    "Localization",
    "LocalizeConfig",
    "RelatedAnomaly",
    "TreeEdge",
    "ValueRow",
    "attribution",
    "drill_down",
    "drill_down_values",
    "leaf_table",
    "localize",
    "metric_kind",
    "rank_related",
    "register_localizer",
]
