"""Load ``models/*.yaml`` into a validated, immutable :class:`Catalog`.

Validation has two layers: the pydantic models reject unknown keys and bad values per object,
then :func:`cross_check` checks what only the whole catalog can tell (unknown references,
cycles, duplicate names, ratios of rates). All problems are collected, each with its file, line
and field, and raised together as one :class:`DefinitionError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from metricloop.catalog import MODELS_DIR
from metricloop.catalog.dimensions import dimensions_for_model
from metricloop.catalog.models import (
    ADDITIVE_AGGS,
    TOTAL_AGGS,
    Additivity,
    Agg,
    CustomGranularity,
    Lifecycle,
    Measure,
    Metric,
    MetricType,
    ModelsFile,
    SemanticModel,
    TimeSpine,
)
from metricloop.errors import DefinitionError, Issue, Location, NotFoundError, did_you_mean
from metricloop.yamlio import Document, load_document, parse_model


@dataclass(frozen=True)
class Origin:
    """Where a definition came from, so later checks can point at the right line."""

    file: str
    path: tuple[str | int, ...]
    doc: Document | None = None

    def location(self, *sub: str | int) -> Location:
        if self.doc is None:
            return Location(self.file, None, ".".join(str(p) for p in (*self.path, *sub)) or None)
        return self.doc.location((*self.path, *sub))


@dataclass(frozen=True)
class ResolvedMeasure:
    """The aggregation behind a simple metric, wherever it was declared."""

    model: SemanticModel
    name: str
    agg: Agg
    expr: str
    agg_time_dimension: str | None
    measure: Measure | None = None


@dataclass
class Catalog:
    """All semantic models and metrics of a project, validated and cross-checked."""

    semantic_models: dict[str, SemanticModel] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)  # "model:x" / "metric:y" → origin
    time_spines: list[TimeSpine] = field(default_factory=list)

    # ---- lookups --------------------------------------------------------------------------
    def metric(self, name: str) -> Metric:
        try:
            return self.metrics[name]
        except KeyError:
            hint = did_you_mean(name, self.metrics)
            raise NotFoundError(f"unknown metric '{name}'{hint}", zh=f"未知指标 '{name}'{hint}") from None

    def model(self, name: str) -> SemanticModel:
        try:
            return self.semantic_models[name]
        except KeyError:
            raise NotFoundError(f"unknown semantic model '{name}'", zh=f"未知语义模型 '{name}'") from None

    def custom_grain(self, name: str) -> tuple[TimeSpine, CustomGranularity] | None:
        """The time spine (and its column) that defines custom granularity ``name``, if any."""
        for spine in self.time_spines:
            for g in spine.custom_granularities:
                if g.name == name:
                    return spine, g
        return None

    def find_measure(self, name: str) -> tuple[SemanticModel, Measure] | None:
        for model in self.semantic_models.values():
            m = model.measure(name)
            if m is not None:
                return model, m
        return None

    def resolve_measure(self, metric: Metric) -> ResolvedMeasure:
        """The aggregation of a simple (or cumulative-over-measure) metric."""
        if metric.measure:
            found = self.find_measure(metric.measure)
            if found is None:
                raise NotFoundError(f"metric '{metric.name}': unknown measure '{metric.measure}'")
            model, m = found
            return ResolvedMeasure(
                model,
                m.name,
                m.agg,
                m.expr or m.name,
                metric.agg_time_dimension or m.agg_time_dimension or model.agg_time_dimension,
                m,
            )
        if metric.semantic_model and metric.agg:
            model = self.model(metric.semantic_model)
            return ResolvedMeasure(
                model,
                metric.name,
                metric.agg,
                metric.expr or metric.name,
                metric.agg_time_dimension or model.agg_time_dimension,
            )
        raise NotFoundError(f"metric '{metric.name}' is not a simple metric")

    def inputs(self, metric: Metric) -> list[str]:
        """Names of the metrics this metric is computed from (direct inputs only)."""
        if metric.type is MetricType.ratio:
            return [r.name for r in (metric.numerator, metric.denominator) if r]
        if metric.type is MetricType.derived:
            return [i.name for i in metric.input_metrics]
        if metric.type is MetricType.cumulative and metric.input_metric:
            return [metric.input_metric.name]
        return []

    def additivity(self, metric: Metric) -> Additivity:
        """Whether the metric's values add up across slices (gates additive attribution)."""
        if metric.type is MetricType.simple:
            rm = self.resolve_measure(metric)
            if rm.measure is not None and rm.measure.non_additive_dimension is not None:
                return Additivity.semi_additive
            return Additivity.additive if rm.agg in ADDITIVE_AGGS else Additivity.non_additive
        if metric.type is MetricType.derived:
            edges = formula_edges(metric)
            if (
                edges
                and all(rel == "additive" for _, rel, _ in edges)
                and all(
                    self.additivity(self.metric(i.name)) is Additivity.additive and not i.offset_window
                    for i in metric.input_metrics
                )
            ):
                return Additivity.additive
        return Additivity.non_additive

    def leaf_aggs(self, metric: Metric) -> Iterator[Agg]:
        if metric.type is MetricType.simple or (metric.type is MetricType.cumulative and metric.measure):
            yield self.resolve_measure(metric).agg
        else:
            for name in self.inputs(metric):
                yield from self.leaf_aggs(self.metrics[name])

    def search(self, text: str) -> list[Metric]:
        """Metrics matching ``text`` in name, labels, synonyms, tags or 口径; exact matches first."""
        needle = text.strip().lower()
        scored: list[tuple[int, str, Metric]] = []
        for m in self.metrics.values():
            names = (
                [m.name, *m.synonyms, *(t for t in (m.label.zh_cn, m.label.en) if t)]
                if m.label
                else [m.name, *m.synonyms]
            )
            texts = [*m.tags] + [t for d in (m.description, m.business_definition) if d for t in (d.zh_cn, d.en) if t]
            lowered = [n.lower() for n in names]
            if needle in lowered:
                score = 3
            elif any(n.startswith(needle) for n in lowered):
                score = 2
            elif any(needle in n for n in lowered) or any(needle in t.lower() for t in texts):
                score = 1
            else:
                continue
            scored.append((-score, m.name, m))
        return [m for *_, m in sorted(scored, key=lambda x: (x[0], x[1]))]


# ------------------------------------------------------------------------------------------
# Formulas
# ------------------------------------------------------------------------------------------


def parse_formula(text: str) -> exp.Expr:
    """Parse a derived metric's ``expr`` (SQL expression syntax, e.g. ``gmv / nullif(orders, 0)``)."""
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"cannot parse formula {text!r}: {str(exc).splitlines()[0]}") from None
    if isinstance(tree, exp.Query | exp.Command) or tree.find(exp.Select, exp.Subquery):
        raise ValueError(f"formula {text!r} must be an expression over input metrics, not a query")
    return tree


def formula_refs(text: str) -> set[str]:
    return {c.name for c in parse_formula(text).find_all(exp.Column)}


def formula_edges(metric: Metric) -> list[tuple[str, str, int]]:
    """Tree edges (input ref, relation, sign/exponent) read off a derived metric's formula.

    ``a + b - c`` → additive (signs ±1); ``a * b / c`` → multiplicative (exponents ±1);
    anything else → formula (attribution by Shapley).
    """
    if metric.type is not MetricType.derived or not metric.expr:
        return []
    tree = parse_formula(metric.expr)
    while isinstance(tree, exp.Paren):
        tree = tree.this

    def flatten(
        node: exp.Expr, ops: tuple[type[exp.Expr], ...], sign: int
    ) -> list[tuple[exp.Expr, int]]:
        node = node.this if isinstance(node, exp.Paren) else node
        if isinstance(node, ops):
            left = flatten(node.this, ops, sign)
            neg = isinstance(node, exp.Sub | exp.Div)
            return left + flatten(node.expression, ops, -sign if neg else sign)
        return [(node, sign)]

    for ops, relation in (((exp.Add, exp.Sub), "additive"), ((exp.Mul, exp.Div), "multiplicative")):
        parts = flatten(tree, ops, 1)
        if len(parts) > 1 and all(isinstance(p, exp.Column) for p, _ in parts):
            return [(p.name, relation, s) for p, s in parts]
    return [(ref, "formula", 1) for ref in sorted(formula_refs(metric.expr))]


# ------------------------------------------------------------------------------------------
# Loading and validation
# ------------------------------------------------------------------------------------------


def load_catalog(root: Path, *, folder: str = MODELS_DIR) -> Catalog:
    """Read every ``models/*.yaml`` under ``root``; raise DefinitionError listing all problems."""
    files = sorted([*(root / folder).glob("**/*.yaml"), *(root / folder).glob("**/*.yml")])
    docs = [load_document(f, root) for f in files]
    return build_catalog(docs)


def build_catalog(docs: Iterable[Document]) -> Catalog:
    """Validate parsed documents into a catalog (also used for definitions written via the API)."""
    catalog = Catalog()
    issues: list[Issue] = []
    unparsed: set[str] = set()  # names declared by objects that failed validation (no cascade errors)
    for doc in docs:
        issues += doc.issues
        if doc.data is None:
            continue
        shape, found = parse_model(ModelsFile, doc.data, doc)
        if shape is None:
            issues += found
            continue
        for i, raw in enumerate(shape.time_spines):
            spine, found = parse_model(TimeSpine, raw, doc, ("time_spines", i))
            issues += found
            if spine is not None and spine not in catalog.time_spines:
                catalog.time_spines.append(spine)
        for i, raw in enumerate(shape.semantic_models):
            model, found = parse_model(SemanticModel, raw, doc, ("semantic_models", i))
            issues += found
            if model is None and isinstance(raw, dict):
                unparsed.update(str(m.get("name")) for m in raw.get("measures") or [] if isinstance(m, dict))
            if model is not None:
                if model.name in catalog.semantic_models:
                    first = catalog.origins[f"model:{model.name}"]
                    issues.append(
                        doc.issue(
                            ("semantic_models", i, "name"),
                            f"duplicate semantic model '{model.name}' (first defined at {first.location('name')})",
                        )
                    )
                    continue
                catalog.semantic_models[model.name] = model
                catalog.origins[f"model:{model.name}"] = Origin(doc.file, ("semantic_models", i), doc)
        for i, raw in enumerate(shape.metrics):
            metric, found = parse_model(Metric, raw, doc, ("metrics", i))
            issues += found
            if metric is None and isinstance(raw, dict):
                unparsed.add(str(raw.get("name")))
            if metric is not None:
                if metric.name in catalog.metrics:
                    first = catalog.origins[f"metric:{metric.name}"]
                    issues.append(
                        doc.issue(
                            ("metrics", i, "name"),
                            f"duplicate metric '{metric.name}' (first defined at {first.location('name')})",
                        )
                    )
                    continue
                catalog.metrics[metric.name] = metric
                catalog.origins[f"metric:{metric.name}"] = Origin(doc.file, ("metrics", i), doc)
    _add_measure_metrics(catalog)
    found = cross_check(catalog)
    if unparsed:  # references to objects already reported as invalid add nothing
        found = [
            i
            for i in found
            if not any(f"unknown measure '{n}'" in i.message or f"unknown metric '{n}'" in i.message for n in unparsed)
        ]
    issues += found
    if issues:
        raise DefinitionError(issues)
    return catalog


def _add_measure_metrics(catalog: Catalog) -> None:
    """Measures with ``create_metric: true`` become simple metrics of the same name (MetricFlow)."""
    for model in catalog.semantic_models.values():
        for m in model.measures:
            if m.create_metric and m.name not in catalog.metrics:
                catalog.metrics[m.name] = Metric(
                    name=m.name, type=MetricType.simple, measure=m.name, label=m.label, description=m.description
                )
                catalog.origins[f"metric:{m.name}"] = catalog.origins[f"model:{model.name}"]


def cross_check(catalog: Catalog) -> list[Issue]:
    """Everything only the whole catalog can tell; returns located issues (empty when valid)."""
    from metricloop.filterlang import FilterSyntaxError, parse_filter

    issues: list[Issue] = []

    def at(key: str, *sub: str | int) -> Location:
        origin = catalog.origins.get(key)
        return origin.location(*sub) if origin else Location(None, None, ".".join(map(str, sub)) or None)

    # semantic models: names unique inside, time dimension present, measures unique globally
    measure_home: dict[str, str] = {}
    for mname, model in catalog.semantic_models.items():
        key = f"model:{mname}"
        members: tuple[tuple[str, list[Any]], ...] = (
            ("dimension", model.dimensions),
            ("entity", model.entities),
            ("measure", model.measures),
        )
        for kind, items in members:
            seen: set[str] = set()
            for j, item in enumerate(items):
                if item.name in seen:
                    issues.append(
                        Issue(
                            f"duplicate {kind} '{item.name}' in semantic model '{mname}'",
                            at(key, f"{kind}s", j, "name"),
                        )
                    )
                seen.add(item.name)
        for j, meas in enumerate(model.measures):
            if meas.name in measure_home and measure_home[meas.name] != mname:
                issues.append(
                    Issue(
                        f"measure '{meas.name}' is also defined in semantic model "
                        f"'{measure_home[meas.name]}' (measure names must be unique)",
                        at(key, "measures", j, "name"),
                    )
                )
            measure_home.setdefault(meas.name, mname)
            atd = meas.agg_time_dimension or model.agg_time_dimension
            if atd is None:
                issues.append(
                    Issue(
                        "no time dimension to aggregate over: set defaults.agg_time_dimension "
                        "or the measure's agg_time_dimension",
                        at(key, "measures", j),
                    )
                )
            elif _time_dim(model, atd) is None:
                issues.append(
                    Issue(
                        f"agg_time_dimension '{atd}' is not a time dimension of '{mname}' "
                        f"(time dimensions: {_names(d for d in model.dimensions if d.type == 'time')})",
                        at(key, "measures", j, "agg_time_dimension"),
                    )
                )
            if meas.agg is Agg.percentile and (meas.agg_params is None or meas.agg_params.percentile is None):
                issues.append(
                    Issue("agg 'percentile' needs agg_params.percentile (0..1)", at(key, "measures", j, "agg"))
                )
        if (
            model.defaults
            and model.defaults.agg_time_dimension
            and _time_dim(model, model.defaults.agg_time_dimension) is None
        ):
            issues.append(
                Issue(
                    f"'{model.defaults.agg_time_dimension}' is not a time dimension of '{mname}'",
                    at(key, "defaults", "agg_time_dimension"),
                )
            )
        if model.primary_entity and model.entity(model.primary_entity) is not None:
            issues.append(
                Issue("primary_entity names an entity that is already declared; remove one", at(key, "primary_entity"))
            )

    # metrics: references
    for name, metric in catalog.metrics.items():
        key = f"metric:{name}"
        if (
            metric.type in (MetricType.simple, MetricType.cumulative)
            and metric.measure
            and catalog.find_measure(metric.measure) is None
        ):
            issues.append(
                Issue(f"unknown measure '{metric.measure}'" + did_you_mean(metric.measure, measure_home),
                      at(key, "measure"))
            )
        if metric.type is MetricType.conversion:
            issues += _conversion_issues(catalog, metric, at(key, "type"))
        if metric.semantic_model and metric.semantic_model not in catalog.semantic_models:
            issues.append(
                Issue(
                    f"unknown semantic model '{metric.semantic_model}'"
                    + did_you_mean(metric.semantic_model, catalog.semantic_models),
                    at(key, "semantic_model"),
                )
            )
        elif metric.type is MetricType.simple and metric.semantic_model and not metric.measure:
            model = catalog.semantic_models[metric.semantic_model]
            atd = metric.agg_time_dimension or model.agg_time_dimension
            if atd is None or _time_dim(model, atd) is None:
                issues.append(
                    Issue(
                        f"no time dimension '{atd}' in semantic model '{model.name}' (set agg_time_dimension)",
                        at(key, "agg_time_dimension"),
                    )
                )
            if metric.agg is Agg.percentile and (metric.agg_params is None or metric.agg_params.percentile is None):
                issues.append(Issue("agg 'percentile' needs agg_params.percentile (0..1)", at(key, "agg")))
        for field_name, ref in (
            ("numerator", metric.numerator),
            ("denominator", metric.denominator),
            ("input_metric", metric.input_metric),
        ):
            if ref is not None and ref.name not in catalog.metrics:
                issues.append(
                    Issue(f"unknown metric '{ref.name}'" + did_you_mean(ref.name, catalog.metrics), at(key, field_name))
                )
        for j, ref in enumerate(metric.input_metrics):
            if ref.name not in catalog.metrics:
                issues.append(
                    Issue(
                        f"unknown metric '{ref.name}'" + did_you_mean(ref.name, catalog.metrics),
                        at(key, "input_metrics", j),
                    )
                )
        if metric.type is MetricType.derived and metric.expr:
            try:
                refs = formula_refs(metric.expr)
            except ValueError as exc:
                issues.append(Issue(str(exc), at(key, "expr")))
            else:
                known = {i.ref for i in metric.input_metrics}
                for ref_name in sorted(refs - known):
                    issues.append(
                        Issue(
                            f"formula uses '{ref_name}', which is not among input_metrics ({', '.join(sorted(known))})",
                            at(key, "expr"),
                        )
                    )
                aliases = [i.ref for i in metric.input_metrics]
                if len(set(aliases)) != len(aliases):
                    issues.append(
                        Issue("two input_metrics share a name: give one an 'alias'", at(key, "input_metrics"))
                    )
        if metric.replaced_by and metric.replaced_by not in catalog.metrics:
            issues.append(Issue(f"replaced_by names unknown metric '{metric.replaced_by}'", at(key, "replaced_by")))
        for j, d in enumerate(metric.drivers):
            if d.metric not in catalog.metrics:
                issues.append(
                    Issue(
                        f"driver names unknown metric '{d.metric}'" + did_you_mean(d.metric, catalog.metrics),
                        at(key, "drivers", j, "metric"),
                    )
                )

    if issues:
        return issues  # deeper checks assume references resolve

    # cycles among derived / ratio / cumulative metrics
    issues += _cycles(catalog, at)
    if issues:
        return issues

    for name, metric in catalog.metrics.items():
        key = f"metric:{name}"
        # ratio of rates
        if metric.type is MetricType.ratio:
            for field_name, ref in (("numerator", metric.numerator), ("denominator", metric.denominator)):
                assert ref is not None
                part = catalog.metrics[ref.name]
                bad = [a.value for a in catalog.leaf_aggs(part) if a not in TOTAL_AGGS]
                if part.type is MetricType.ratio or bad:
                    what = "a ratio" if part.type is MetricType.ratio else f"aggregated with {', '.join(bad)}"
                    issues.append(
                        Issue(
                            f"ratio of non-additive parts: '{ref.name}' is {what}; a ratio's parts "
                            "must be totals (sum, count, count_distinct, sum_boolean)",
                            at(key, field_name),
                        )
                    )
        # lifecycle: an active metric must not stand on a retired one
        if metric.lifecycle is Lifecycle.active:
            for dep in catalog.inputs(metric):
                if catalog.metrics[dep].lifecycle is Lifecycle.retired:
                    issues.append(Issue(f"active metric depends on retired metric '{dep}'", at(key, "lifecycle")))
        # filters reference real dimensions
        dims = available_dimensions(catalog, metric)
        for filter_path, text in _filters(metric):
            try:
                tree = parse_filter(text)
            except FilterSyntaxError as exc:
                issues.append(Issue(str(exc), at(key, *filter_path)))
                continue
            for ident in sorted(tree.identifiers()):
                if ident not in dims and ident.split("__")[0] != "metric_time":
                    issues.append(
                        Issue(f"filter uses unknown dimension '{ident}'" + did_you_mean(ident, dims),
                              at(key, *filter_path))
                    )
            for used in tree.metric_refs():
                if used.name not in catalog.metrics:
                    issues.append(Issue(f"filter uses unknown metric '{used.name}'"
                                        + did_you_mean(used.name, catalog.metrics), at(key, *filter_path)))
    return issues


def _filters(metric: Metric) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if metric.filter:
        yield ("filter",), metric.filter
    for fname, ref in (
        ("numerator", metric.numerator),
        ("denominator", metric.denominator),
        ("input_metric", metric.input_metric),
    ):
        if ref is not None and ref.filter:
            yield (fname, "filter"), ref.filter
    for j, ref in enumerate(metric.input_metrics):
        if ref.filter:
            yield ("input_metrics", j, "filter"), ref.filter


def available_dimensions(catalog: Catalog, metric: Metric) -> set[str]:
    """Dimension names a metric can be grouped or filtered by (common to all its leaves)."""
    models = leaf_models(catalog, metric)
    sets = [dimensions_for_model(catalog, m) for m in models]
    return set.intersection(*sets) if sets else set()


def leaf_models(catalog: Catalog, metric: Metric) -> list[SemanticModel]:
    if metric.type is MetricType.simple or (metric.type is MetricType.cumulative and metric.measure):
        return [catalog.resolve_measure(metric).model]
    if metric.type is MetricType.conversion:  # sliced by the base events' dimensions
        found = catalog.find_measure(metric.base_measure or "")
        return [found[0]] if found else []
    out: list[SemanticModel] = []
    for dep in catalog.inputs(metric):
        for m in leaf_models(catalog, catalog.metrics[dep]):
            if m not in out:
                out.append(m)
    return out


def _conversion_issues(catalog: Catalog, metric: Metric, where: Location) -> list[Issue]:
    """Both measures exist, and both of their models have the entity and the constant properties."""
    issues: list[Issue] = []
    models = []
    for label, name in (("base_measure", metric.base_measure), ("conversion_measure", metric.conversion_measure)):
        found = catalog.find_measure(name or "")
        if found is None:
            issues.append(Issue(f"{label}: unknown measure '{name}'", where))
            continue
        models.append(found[0])
        if found[0].entity(metric.entity or "") is None and found[0].primary_entity != metric.entity:
            issues.append(Issue(f"{label} '{name}': semantic model '{found[0].name}' has no entity '{metric.entity}'",
                                where))
    if len(models) == 2:
        for prop in metric.constant_properties:
            for model, name in zip(models, (prop.base_property, prop.conversion_property), strict=True):
                if model.dimension(name) is None and model.entity(name) is None:
                    issues.append(Issue(f"constant property '{name}' is neither a dimension nor an entity of "
                                        f"'{model.name}'", where))
    return issues


def _cycles(catalog: Catalog, at: Any) -> list[Issue]:
    state: dict[str, int] = {}
    issues: list[Issue] = []

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*stack[stack.index(name) :], name]
            issues.append(Issue(f"cycle among metrics: {' → '.join(cycle)}", at(f"metric:{name}")))
            return
        state[name] = 1
        for dep in catalog.inputs(catalog.metrics[name]):
            visit(dep, [*stack, name])
        state[name] = 2

    for name in catalog.metrics:
        visit(name, [])
    return issues


def _time_dim(model: SemanticModel, name: str) -> Any:
    d = model.dimension(name)
    return d if d is not None and d.type == "time" else None


def _names(items: Iterable[Any]) -> str:
    return ", ".join(i.name for i in items) or "none"


def definition_dict(obj: Metric | SemanticModel) -> dict[str, Any]:
    """The canonical, order-stable dict of a definition (used for hashing and export)."""
    return obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)
