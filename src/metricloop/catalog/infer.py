"""A first semantic model from a warehouse table's profile (``metricloop catalog infer``).

A new user has a loaded table and no model. Writing one by hand is where the first hour goes, so
this proposes one from what the table holds: the event-time column (and the grain its values
show), key columns (``*_id``: entities, the row count), low-cardinality text columns (dimensions
to slice by) and numeric columns (sums). The result is a plain mapping written as YAML with
comments; the user reviews labels, tiers and owners. No IO here: the caller profiles the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from metricloop.catalog.models import Grain

#: A text column with more distinct values than this is an identifier or free text, not a slice.
MAX_DIMENSION_VALUES = 200
_TIME_NAMES = re.compile(r"(_at|_time|_ts|^time|^date|_date|^hour|^day|^ts)$")
_MONEY = re.compile(r"(amount|gmv|revenue|sales|price|cost|fee|total|value|income|spend)")


@dataclass(frozen=True)
class ColumnProfile:
    """What a column holds: its kind (``time``, ``number``, ``integer``, ``text``, ``bool``) and counts."""

    name: str
    kind: str
    distinct: int
    nulls: int = 0


@dataclass(frozen=True)
class TableProfile:
    """Row count, columns and the finest clock component seen in the event-time values."""

    table: str
    rows: int
    columns: list[ColumnProfile] = field(default_factory=list)
    time_grains: dict[str, Grain] = field(default_factory=dict)


def safe_name(text: str) -> str:
    """A catalog name (``^[a-z][a-z0-9_]*$``) from a column or table name."""
    out = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_") or "x"
    return out if out[0].isalpha() else f"m_{out}"


def _is_id(col: ColumnProfile) -> bool:
    n = col.name.lower()
    return n == "id" or n.endswith(("_id", "_no", "_key"))


def pick_time_column(profile: TableProfile) -> ColumnProfile | None:
    """The event-time column: a time-typed column, preferring names like ``*_time``/``*_at``."""
    times = [c for c in profile.columns if c.kind == "time"]
    if not times:
        return None
    named = [c for c in times if _TIME_NAMES.search(c.name.lower())]
    return (named or times)[0]


def infer_model(profile: TableProfile, *, name: str | None = None) -> dict[str, Any]:
    """``{semantic_models: [...], metrics: [...]}`` for one table.

    Metrics: the row count (named after the table, or ``<table>_rows`` and tier ``diagnostic``
    when no unique id makes rows events) and one sum per numeric column (money-like names and counts
    of pre-aggregated rows ``primary``, others ``secondary``). Dimensions: text and boolean
    columns with at most :data:`MAX_DIMENSION_VALUES` values.
    """
    model = safe_name(name or profile.table.split(".")[-1])
    time_col = pick_time_column(profile)
    entities: list[dict[str, Any]] = []
    dimensions: list[dict[str, Any]] = []
    measures: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    ids = [c for c in profile.columns if _is_id(c) and c.kind in ("integer", "text")]
    primary = next((c for c in ids if c.distinct == profile.rows and c.nulls == 0), None)
    for c in ids:
        ent = safe_name(c.name.removesuffix("_id").removesuffix("_no").removesuffix("_key")) or safe_name(c.name)
        entities.append({"name": ent, "type": "primary" if c is primary else "foreign", "expr": c.name})
    if time_col is not None:
        grain = profile.time_grains.get(time_col.name, Grain.day)
        dimensions.append({"name": safe_name(time_col.name), "type": "time", "expr": time_col.name,
                           "type_params": {"time_granularity": grain.value}})
    for c in profile.columns:
        if c is time_col or c in ids or c.kind not in ("text", "bool"):
            continue
        if c.kind == "text" and not 1 < c.distinct <= MAX_DIMENSION_VALUES:
            continue
        dimensions.append({"name": safe_name(c.name), "type": "categorical", "expr": c.name})
    count_expr = primary.name if primary else (time_col.name if time_col else "1")
    count_measure = f"{model}_count"
    measures.append({"name": count_measure, "agg": "count", "expr": count_expr})
    count_metric = model if primary else f"{model}_rows"
    metrics.append({
        "name": count_metric,
        "label": {"zh-CN": f"{profile.table} 行数", "en": f"{profile.table} rows"},
        "measure": count_measure,
        "unit": "count",
        "format": ",.0f",
        "polarity": "higher_is_better",
        # one row per event (a unique id): the count is a business number; else rows are
        # pre-aggregated and their count only says whether data arrived
        "tier": "primary" if primary else "diagnostic",
    })
    dim_names = {d["name"] for d in dimensions}
    for c in profile.columns:
        if c.kind not in ("number", "integer") or c in ids:
            continue
        metric = safe_name(c.name)
        if metric == count_metric or metric in dim_names:
            metric = f"{metric}_total"
        measures.append({"name": f"{metric}_sum", "agg": "sum", "expr": c.name})
        money = bool(_MONEY.search(c.name.lower()))
        counted = c.kind == "integer" and not primary  # orders, visits in pre-aggregated rows
        spec: dict[str, Any] = {
            "name": metric,
            "label": {"zh-CN": f"{c.name} 合计", "en": f"Total {c.name}"},
            "measure": f"{metric}_sum",
        }
        if counted:
            spec["unit"] = "count"
        spec |= {
            "format": ",.2f" if c.kind == "number" else ",.0f",
            "polarity": "higher_is_better",
            "tier": "primary" if money or counted else "secondary",
        }
        metrics.append(spec)
    semantic: dict[str, Any] = {"name": model, "table": profile.table}
    if time_col is not None:
        semantic["defaults"] = {"agg_time_dimension": safe_name(time_col.name)}
    if entities:
        semantic["entities"] = entities
    semantic["dimensions"] = dimensions
    semantic["measures"] = measures
    return {"semantic_models": [semantic], "metrics": metrics}
