"""Dimension resolution as the engine uses it: re-exported from :mod:`metricloop.catalog.dimensions`.

Which dimensions a semantic model reaches, and through which joins, is the catalog's knowledge
(the catalog validates its filters with it); it moved there so the catalog does not import the
engine. The compiler and the benchmarks keep importing it from here.
"""

from __future__ import annotations

from metricloop.catalog.dimensions import (
    DATE_PARTS,
    GRAINS,
    MAX_HOPS,
    METRIC_TIME,
    DimRef,
    Hop,
    ModelGraph,
    dimensions_for_model,
    resolve,
    split_date_part,
)

__all__ = ["DATE_PARTS", "GRAINS", "MAX_HOPS", "METRIC_TIME", "DimRef", "Hop", "ModelGraph",
           "dimensions_for_model", "resolve", "split_date_part"]
