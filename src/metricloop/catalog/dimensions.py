"""The semantic graph: which dimensions a semantic model can reach, and through which joins.

It is the catalog's own knowledge (no SQL here): the catalog checks the dimensions its
definitions' filters name with it, and the engine (:mod:`metricloop.engine.compiler`) builds its
joins from the paths it resolves. It reads the catalog through :class:`ModelGraph` (the semantic
models and time spines), so it imports nothing of :mod:`metricloop.catalog.catalog`.

A dimension is named the way MetricFlow names it:

- ``region``                      a dimension of the model itself (or, when unambiguous, of a
                                  model one entity-hop away: "conformed" dimensions)
- ``order__region``               ``region`` on the model whose primary entity is ``order``
- ``customer__region``            reached by joining on the ``customer`` entity
- ``account__customer__region``   two hops
- ``order_time__month``           a time dimension at a grain; ``metric_time__week`` is the
                                  model's aggregation time dimension
- ``customer``                    an entity used as a dimension (its key)

Joins only go to a model where the entity is ``primary``/``unique`` (many-to-one), so they never
fan out and aggregates stay correct.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from metricloop.catalog.models import CustomGranularity, Dimension, Entity, Grain, SemanticModel, TimeSpine
from metricloop.errors import QueryError, did_you_mean

MAX_HOPS = 2
GRAINS = {g.value for g in Grain}
METRIC_TIME = "metric_time"
#: ``order_time__extract_dow``: a part of a time dimension instead of its truncation (MetricFlow's date_part)
DATE_PARTS = ("year", "quarter", "month", "week", "day", "dow", "doy")


class ModelGraph(Protocol):
    """What resolution reads of a catalog (:class:`metricloop.catalog.catalog.Catalog` is one)."""

    semantic_models: dict[str, SemanticModel]
    time_spines: list[TimeSpine]

    def custom_grain(self, name: str) -> tuple[TimeSpine, CustomGranularity] | None: ...


@dataclass(frozen=True)
class Hop:
    """Join the current model to ``target`` on ``entity`` (many-to-one)."""

    entity: str
    source_entity: Entity
    target: SemanticModel
    target_entity: Entity


@dataclass(frozen=True)
class DimRef:
    """A resolved dimension: the join path from the base model and the column at its end."""

    name: str  # the name as requested, used as the output column
    path: tuple[Hop, ...]
    model: SemanticModel  # where the column lives
    dimension: Dimension | None = None
    entity: Entity | None = None
    grain: Grain | None = None
    is_metric_time: bool = False
    date_part: str | None = None  # set for ``<time dim>__extract_<part>``; then ``grain`` is None
    custom_grain: str | None = None  # ``<time dim>__<custom granularity>``; ``grain`` is the spine's grain

    @property
    def is_time(self) -> bool:
        return self.is_metric_time or (self.dimension is not None and self.dimension.type == "time")

    @property
    def expr(self) -> str:
        if self.dimension is not None:
            return self.dimension.expr or self.dimension.name
        assert self.entity is not None
        return self.entity.expr or self.entity.name


def _joinable(catalog: ModelGraph, entity_name: str, exclude: SemanticModel) -> list[tuple[SemanticModel, Entity]]:
    out = []
    for m in catalog.semantic_models.values():
        if m.name == exclude.name:
            continue
        e = m.entity(entity_name)
        if e is not None and e.type in ("primary", "unique", "natural"):
            out.append((m, e))
        elif m.primary_entity == entity_name:
            out.append((m, Entity(name=entity_name, type="primary")))
    return out


def _primary_names(model: SemanticModel) -> set[str]:
    names = {e.name for e in model.entities if e.type in ("primary", "unique", "natural")}
    if model.primary_entity:
        names.add(model.primary_entity)
    return names


def _hops(catalog: ModelGraph, model: SemanticModel, entity: str) -> list[Hop]:
    src = model.entity(entity)
    if src is None:
        return []
    return [Hop(entity, src, target, te) for target, te in _joinable(catalog, entity, model)]


def _split_grain(name: str) -> tuple[str, Grain | None]:
    base, _, last = name.rpartition("__")
    if base and last in GRAINS:
        return base, Grain(last)
    return name, None


def _split_custom(catalog: ModelGraph, name: str) -> tuple[str, str | None]:
    """``booking__ds__alien_day`` → (``booking__ds``, ``alien_day``) when the catalog's spines define it."""
    base, _, last = name.rpartition("__")
    if base and last not in GRAINS and catalog.time_spines and catalog.custom_grain(last) is not None:
        return base, last
    return name, None


def split_date_part(name: str) -> tuple[str, str | None]:
    """``metric_time__extract_dow`` → (``metric_time``, ``dow``); other names pass through."""
    base, _, last = name.rpartition("__")
    if base and last.startswith("extract_") and last[8:] in DATE_PARTS:
        return base, last[8:]
    return name, None


def resolve(catalog: ModelGraph, model: SemanticModel, name: str, agg_time: str | None = None) -> DimRef:
    """Resolve a requested dimension name against ``model``; raise QueryError if it is not reachable."""
    base, part = split_date_part(name)
    if part is not None:
        ref = _try_resolve(catalog, model, base, agg_time)
        if ref is not None and not ref.is_time:
            raise QueryError(f"'{name}': date parts apply to time dimensions only, '{base}' is not one")
        ref = replace(ref, name=name, grain=None, date_part=part) if ref is not None else None
    else:
        ref = _try_resolve(catalog, model, name, agg_time)
    if ref is None:
        base, custom = _split_custom(catalog, name)
        if custom is not None:
            ref = _try_resolve(catalog, model, base, agg_time)
            if ref is not None and not ref.is_time:
                raise QueryError(f"'{name}': custom granularities apply to time dimensions only, '{base}' is not one")
            if ref is not None:
                found = catalog.custom_grain(custom)
                assert found is not None
                ref = replace(ref, name=name, grain=found[0].grain, custom_grain=custom)
    if ref is None:
        known = sorted(dimensions_for_model(catalog, model))
        raise QueryError(
            f"dimension '{name}' is not available for semantic model '{model.name}'{did_you_mean(name, known)} "
            f"(available: {', '.join(known[:25])}{' ...' if len(known) > 25 else ''})",
            zh=f"语义模型 '{model.name}' 没有维度 '{name}'",
        )
    return ref


def _try_resolve(catalog: ModelGraph, model: SemanticModel, name: str, agg_time: str | None) -> DimRef | None:
    base, grain = _split_grain(name)
    if base == METRIC_TIME:
        time_dim = model.dimension(agg_time) if agg_time else None
        if time_dim is None:
            return None
        return DimRef(name, (), model, time_dim, grain=grain or time_dim.grain, is_metric_time=True)
    parts = base.split("__")
    # own dimension or entity, optionally qualified by the model's own primary entity
    if len(parts) == 1 or (len(parts) == 2 and parts[0] in _primary_names(model)):
        found = _local(model, parts[-1], name, grain)
        if found is not None:
            return found
    # walk entity hops
    if len(parts) >= 2:
        found = _walk(catalog, model, parts[:-1], parts[-1], name, grain, ())
        if found is not None:
            return found
    # conformed convenience: a plain name found on exactly one model one hop away
    if len(parts) == 1:
        candidates = []
        for ent in model.entities:
            for hop in _hops(catalog, model, ent.name):
                local = _local(hop.target, parts[0], name, grain)
                if local is not None and local.entity is None:
                    candidates.append(DimRef(name, (hop,), hop.target, local.dimension, None, grain))
        if len({(c.model.name, c.path[0].entity) for c in candidates}) == 1:
            return candidates[0]
    return None


def _local(model: SemanticModel, leaf: str, name: str, grain: Grain | None) -> DimRef | None:
    dim = model.dimension(leaf)
    if dim is not None:
        if grain is not None and dim.type != "time":
            return None
        return DimRef(name, (), model, dim, grain=grain or (dim.grain if dim.type == "time" else None))
    ent = next((e for e in model.entities if e.name == leaf), None)
    if ent is not None and grain is None:
        return DimRef(name, (), model, entity=ent)
    return None


def _walk(
    catalog: ModelGraph,
    model: SemanticModel,
    entities: list[str],
    leaf: str,
    name: str,
    grain: Grain | None,
    path: tuple[Hop, ...],
) -> DimRef | None:
    if not entities:
        return None
    head, rest = entities[0], entities[1:]
    for hop in _hops(catalog, model, head):
        if hop.target.name in {h.target.name for h in path}:
            continue
        if not rest:
            local = _local(hop.target, leaf, name, grain)
            if local is not None:
                return DimRef(name, (*path, hop), hop.target, local.dimension, local.entity, local.grain)
        elif len(path) + 1 < MAX_HOPS:
            found = _walk(catalog, hop.target, rest, leaf, name, grain, (*path, hop))
            if found is not None:
                return found
    # the entity named may be the target's own primary entity qualifying its dimension
    if not rest and head in _primary_names(model):
        return _local(model, leaf, name, grain)
    return None


def dimensions_for_model(catalog: ModelGraph, model: SemanticModel) -> set[str]:
    """Every dimension name resolvable from ``model`` (without grain suffixes)."""
    cache: dict[str, set[str]] = catalog.__dict__.setdefault("_dimension_cache", {})
    if model.name in cache:
        return cache[model.name]
    names = {METRIC_TIME}
    prim = _primary_names(model)
    for d in model.dimensions:
        names.add(d.name)
        names.update(f"{p}__{d.name}" for p in prim)
    for e in model.entities:
        names.add(e.name)

    def visit(m: SemanticModel, prefix: str, depth: int, seen: frozenset[str]) -> None:
        for ent in m.entities:
            for hop in _hops(catalog, m, ent.name):
                if hop.target.name in seen:
                    continue
                p = f"{prefix}{ent.name}__"
                for d in hop.target.dimensions:
                    names.add(p + d.name)
                    if depth == 1:
                        names.add(d.name)
                for e2 in hop.target.entities:
                    names.add(p + e2.name)
                if depth < MAX_HOPS:
                    visit(hop.target, p, depth + 1, seen | {hop.target.name})

    visit(model, "", 1, frozenset({model.name}))
    # a plain name is only reachable if it resolves unambiguously
    names = {n for n in names if "__" in n or n == METRIC_TIME or _try_resolve(catalog, model, n, None) is not None}
    cache[model.name] = names
    return names
