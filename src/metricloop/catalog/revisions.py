"""Immutable revisions of definitions, with a calculation hash and a metadata hash.

Editing a description or an owner is a *metadata* change; changing what a number means
(aggregation, expression, filter, formula, or anything a metric is computed from) is a
*calculation* change. The calculation hash of a metric folds in the calculation hashes of its
inputs and its measure's model, so redefining ``orders`` also changes ``aov``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metricloop.catalog.catalog import Catalog, definition_dict
from metricloop.catalog.models import Metric, MetricType, SemanticModel
from metricloop.store.models import DefinitionRevision

METRIC_CALC_FIELDS = frozenset(
    {
        "type",
        "measure",
        "semantic_model",
        "agg",
        "expr",
        "agg_params",
        "agg_time_dimension",
        "numerator",
        "denominator",
        "input_metrics",
        "input_metric",
        "window",
        "grain_to_date",
        "period_agg",
        "filter",
        "fill_nulls_with",
        "join_to_timespine",
        "offset_to_grain",
        "base_measure",
        "conversion_measure",
        "entity",
        "calculation",
        "constant_properties",
    }
)
MODEL_META_FIELDS = frozenset({"label", "description", "synonyms", "extensions"})


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _strip_meta(value: Any) -> Any:
    """Drop presentation keys from nested dimension/measure/entity dicts."""
    if isinstance(value, dict):
        return {k: _strip_meta(v) for k, v in value.items() if k not in MODEL_META_FIELDS}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


def model_hashes(model: SemanticModel) -> tuple[str, str]:
    d = definition_dict(model)
    calc = _strip_meta(d)
    meta = {k: v for k, v in d.items() if k in MODEL_META_FIELDS}
    meta["members"] = [
        {k: v for k, v in item.items() if k in MODEL_META_FIELDS or k == "name"}
        for key in ("dimensions", "measures", "entities")
        for item in d.get(key, [])
    ]
    return _digest(calc), _digest(meta)


def metric_hashes(catalog: Catalog, metric: Metric, _memo: dict[str, str] | None = None) -> tuple[str, str]:
    memo = _memo if _memo is not None else {}
    d = definition_dict(metric)
    calc: dict[str, Any] = {k: v for k, v in d.items() if k in METRIC_CALC_FIELDS}
    calc.setdefault("type", metric.type.value)
    if metric.type in (MetricType.simple, MetricType.cumulative) and (metric.measure or metric.semantic_model):
        calc["__source"] = _source_calc(catalog, metric)
    calc["__inputs"] = {}
    for name in catalog.inputs(metric):
        if name not in memo:
            memo[name] = metric_hashes(catalog, catalog.metrics[name], memo)[0]
        calc["__inputs"][name] = memo[name]
    meta = {k: v for k, v in d.items() if k not in METRIC_CALC_FIELDS}
    return _digest(calc), _digest(meta)


def _source_calc(catalog: Catalog, metric: Metric) -> dict[str, Any]:
    """The parts of a semantic model a metric's value depends on: its source, measure, time axis and the
    dimensions its filter reads. Adding an unrelated dimension or measure to the model is not a change."""
    from metricloop.filterlang import parse_filter

    rm = catalog.resolve_measure(metric)
    d = definition_dict(rm.model)
    used = set()
    if metric.filter:
        used = {i.split("__")[-1] for i in parse_filter(metric.filter).identifiers()}
    return {
        "source": {k: d.get(k) for k in ("table", "sql", "node_relation")},
        "measure": _strip_meta(rm.measure.model_dump(mode="json", exclude_defaults=True)) if rm.measure else None,
        "agg_time_dimension": rm.agg_time_dimension,
        "dimensions": [_strip_meta(x) for x in d.get("dimensions", []) if x["name"] in used | {rm.agg_time_dimension}],
    }


def current_author() -> str:
    return os.environ.get("METRICLOOP_USER") or getpass.getuser()


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    version: int
    change: str  # created | calculation | metadata | removed | restored


def latest(session: Session, kind: str | None = None) -> dict[tuple[str, str], DefinitionRevision]:
    sub = select(
        DefinitionRevision.kind, DefinitionRevision.name, func.max(DefinitionRevision.version).label("v")
    ).group_by(DefinitionRevision.kind, DefinitionRevision.name)
    if kind:
        sub = sub.where(DefinitionRevision.kind == kind)
    subq = sub.subquery()
    rows = session.scalars(
        select(DefinitionRevision).join(
            subq,
            (DefinitionRevision.kind == subq.c.kind)
            & (DefinitionRevision.name == subq.c.name)
            & (DefinitionRevision.version == subq.c.v),
        )
    )
    return {(r.kind, r.name): r for r in rows}


def sync(session: Session, catalog: Catalog, *, author: str | None = None, reason: str | None = None) -> list[Change]:
    """Record a revision for every definition whose hashes differ from its latest revision."""
    author = author or current_author()
    known = latest(session)
    changes: list[Change] = []
    current: dict[tuple[str, str], tuple[str, str, dict[str, Any], str | None]] = {}
    memo: dict[str, str] = {}
    for name, model in catalog.semantic_models.items():
        c, m = model_hashes(model)
        current[("semantic_model", name)] = (c, m, definition_dict(model), _source(catalog, f"model:{name}"))
    for name, metric in catalog.metrics.items():
        c, m = metric_hashes(catalog, metric, memo)
        current[("metric", name)] = (c, m, definition_dict(metric), _source(catalog, f"metric:{name}"))
    for key, (calc, meta, definition, source) in current.items():
        prev = known.get(key)
        if prev is None:
            change, version = "created", 1
        elif prev.change == "removed":
            change, version = "restored", prev.version + 1
        elif prev.calc_hash != calc:
            change, version = "calculation", prev.version + 1
        elif prev.meta_hash != meta:
            change, version = "metadata", prev.version + 1
        else:
            continue
        session.add(
            DefinitionRevision(
                kind=key[0],
                name=key[1],
                version=version,
                change=change,
                calc_hash=calc,
                meta_hash=meta,
                definition=definition,
                source=source,
                author=author,
                reason=reason,
            )
        )
        changes.append(Change(key[0], key[1], version, change))
    for key, prev in known.items():
        if key not in current and prev.change != "removed":
            session.add(
                DefinitionRevision(
                    kind=key[0],
                    name=key[1],
                    version=prev.version + 1,
                    change="removed",
                    calc_hash=prev.calc_hash,
                    meta_hash=prev.meta_hash,
                    definition=prev.definition,
                    source=prev.source,
                    author=author,
                    reason=reason,
                )
            )
            changes.append(Change(key[0], key[1], prev.version + 1, "removed"))
    session.flush()
    return changes


def history(session: Session, name: str, kind: str = "metric") -> list[DefinitionRevision]:
    return list(
        session.scalars(
            select(DefinitionRevision)
            .where(DefinitionRevision.kind == kind, DefinitionRevision.name == name)
            .order_by(DefinitionRevision.version)
        )
    )


def _source(catalog: Catalog, key: str) -> str | None:
    origin = catalog.origins.get(key)
    return str(origin.location()) if origin else None
