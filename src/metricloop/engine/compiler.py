"""Compile a :class:`MetricQuery` into one SQL statement, as a sqlglot AST.

The plan, in the spirit of MetricFlow's dataflow plan:

1. Expand every requested metric into *leaves*: one aggregation over one semantic model with
   its filters, time offset and cumulative window. A metric becomes an expression over leaf
   columns (``gmv / NULLIF(orders, 0)``), inlined recursively for ratio and derived metrics.
2. Group leaves that scan the same model with the same filters and offset into one aggregate
   subquery (one scan computes GMV, orders and buyers together).
3. Merge the subqueries on the group-by keys with ``UNION ALL`` + ``GROUP BY`` rather than FULL
   OUTER JOIN: portable to every dialect and NULL-safe on the keys.
4. Select the metric expressions, period-over-period columns, order and limit.

The time axis of a leaf is its model's aggregation time dimension, whether the query names it
``metric_time`` or by its own name. Offsets shift it; cumulative windows and ``offset_to_grain``
join the rows to the output periods of a time spine (``sp.__t``), and a cumulative value at a
grain coarser than its periods is the first, last or average of them (``period_agg``). Custom
granularities, slowly changing dimensions, metrics used in filters (a per-entity subquery) and
conversion metrics (window functions) are plain joins and subqueries: every dialect runs them.

User input reaches the AST only as resolved column references (dimension names looked up in
the catalog) and literals (filter values, dates). Definitions' ``expr`` fragments are parsed
by sqlglot; they come from reviewed project files, not from queries.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from dateutil.relativedelta import relativedelta
from sqlglot import exp

from metricloop.catalog.catalog import Catalog, ResolvedMeasure, parse_formula
from metricloop.catalog.dimensions import DimRef, Hop, resolve, split_date_part
from metricloop.catalog.models import (
    Agg,
    Grain,
    Metric,
    MetricInput,
    MetricType,
    SemanticModel,
    TimeSpine,
    parse_window,
)
from metricloop.engine import dialects as dx
from metricloop.engine.filters import (
    And,
    Filter,
    MetricRef,
    Node,
    Predicate,
    metric_ref,
    parse_filter,
    to_sql,
    walk,
)
from metricloop.engine.query import MetricQuery
from metricloop.errors import Location, QueryError, UnsupportedError
from metricloop.secrets import quote_input

Offset = tuple[int, Grain]
#: a semi-additive measure's ``non_additive_dimension``: (time dimension, min|max, window groupings)
NonAdditive = tuple[str, str, tuple[str, ...]]
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Cumulative:
    window: Offset | None = None
    grain_to_date: Grain | None = None
    period_agg: str = "last"  # how days' values make a coarser period's value: first | last | average


@dataclass(frozen=True)
class Conversion:
    """The conversion events a base event leads to (MetricFlow's conversion metrics)."""

    model: str
    expr: str  # the conversion measure's column
    time_dim: str
    entity: str
    window: Offset | None
    constant: tuple[tuple[str, str], ...] = ()  # (base property, conversion property)


@dataclass(frozen=True)
class Leaf:
    """One aggregation over one semantic model; the unit the SQL is built from."""

    model: str
    agg: Agg
    expr: str
    time_dim: str
    filters: tuple[str, ...] = ()
    offset: Offset | None = None
    cumulative: Cumulative | None = None
    percentile: tuple[float, bool, bool] | None = None  # (p, discrete, approximate)
    to_grain: Grain | None = None  # offset_to_grain: the value at the start of this grain's period
    conversion: Conversion | None = None  # aggregate conversion events attributed to these base rows
    non_additive: NonAdditive | None = None  # semi-additive: only the rows at the min/max of a time dimension
    compare: Offset | None = None  # the query's period-over-period shift, part of ``offset`` (cumulative leaves)

    @property
    def group_key(self) -> tuple[Any, ...]:
        return (self.model, self.time_dim, self.filters, self.offset, self.cumulative, self.to_grain, self.conversion,
                self.non_additive, self.compare)


@dataclass(frozen=True)
class OutputColumn:
    name: str
    kind: str  # dimension | metric | compare
    metric: str | None = None
    is_time: bool = False


@dataclass
class CompiledQuery:
    """The SQL for one dialect, its AST and what its columns mean."""

    sql: str
    ast: exp.Expr
    dialect: str
    columns: list[OutputColumn]
    query: MetricQuery


@dataclass
class _Plan:
    leaves: dict[Leaf, str] = field(default_factory=dict)
    compare: Offset | None = None  # set while the previous period's expressions are expanded

    def leaf(self, leaf: Leaf) -> exp.Expr:
        if leaf not in self.leaves:
            self.leaves[leaf] = f"__l{len(self.leaves)}"
        return exp.column(self.leaves[leaf])


def _add_offsets(a: Offset | None, b: Offset | None) -> Offset | None:
    if a is None or b is None:
        return a or b
    if a[1] is not b[1]:
        raise QueryError(f"cannot combine time offsets of {a[0]} {a[1].value} and {b[0]} {b[1].value}")
    return (a[0] + b[0], a[1])


class Compiler:
    """Compiles queries against one catalog for one dialect (thread-safe, plan-cached)."""

    def __init__(self, catalog: Catalog, dialect: str = "duckdb") -> None:
        self.catalog = catalog
        self.dialect = dx.capabilities(dialect).name
        self._cache: dict[tuple[str, tuple[str, ...], bool], CompiledQuery] = {}
        self._parsed: dict[str, exp.Expr] = {}

    # ------------------------------------------------------------------ metric expansion
    def _expand(
        self,
        plan: _Plan,
        metric: Metric,
        filters: tuple[str, ...],
        offset: Offset | None,
        depth: int = 0,
        to_grain: Grain | None = None,
    ) -> exp.Expr:
        if depth > 20:
            raise QueryError(f"metric '{metric.name}' nests too deeply")
        if metric.filter:
            filters = (*filters, metric.filter)
        if metric.type is MetricType.simple:
            rm = self.catalog.resolve_measure(metric)
            p = rm.measure.agg_params if rm.measure and rm.measure.agg_params else metric.agg_params
            pct = (
                (p.percentile, p.use_discrete_percentile, p.use_approximate_percentile)
                if rm.agg is Agg.percentile and p and p.percentile
                else None
            )
            assert rm.agg_time_dimension is not None
            semi = self._non_additive(rm, metric)
            if semi is not None and to_grain is not None:
                raise UnsupportedError(
                    f"metric '{metric.name}': offset_to_grain over the semi-additive measure '{rm.name}' cannot be "
                    "computed exactly (non_additive_dimension)",
                    zh=f"指标 '{metric.name}'：半可加度量 '{rm.name}'（non_additive_dimension）不支持 offset_to_grain",
                    location=self._nad_location(rm, metric),
                )
            node = plan.leaf(
                Leaf(
                    rm.model.name,
                    rm.agg,
                    rm.expr,
                    rm.agg_time_dimension,
                    tuple(sorted(set(filters))),
                    offset,
                    None,
                    pct,
                    to_grain,
                    None,
                    semi,
                )
            )
            if metric.fill_nulls_with is not None:
                node = exp.func("COALESCE", node, _number(metric.fill_nulls_with))
            return node
        if metric.type is MetricType.ratio:
            assert metric.numerator
            assert metric.denominator
            num = self._input(plan, metric.numerator, filters, offset, depth, to_grain)
            den = self._input(plan, metric.denominator, filters, offset, depth, to_grain)
            return exp.Div(
                this=exp.cast(num, "double", copy=False), expression=exp.func("NULLIF", den, exp.Literal.number(0))
            )
        if metric.type is MetricType.derived:
            assert metric.expr
            values = {i.ref: self._input(plan, i, filters, offset, depth, to_grain) for i in metric.input_metrics}
            formula = parse_formula(metric.expr)

            def sub(node: exp.Expr) -> exp.Expr:
                if isinstance(node, exp.Column) and node.name in values:
                    return exp.paren(values[node.name].copy())
                if isinstance(node, exp.Div) and not isinstance(node.this, exp.Cast):
                    # a real division on every engine: PostgreSQL divides integers to an integer and
                    # MySQL/MariaDB decimals to 4 more digits, both silently
                    node.set("this", exp.cast(node.this, "double", copy=False))
                return node

            out = formula.transform(sub)
            if metric.fill_nulls_with is not None:
                out = exp.func("COALESCE", out, _number(metric.fill_nulls_with))
            return out
        if metric.type is MetricType.conversion:
            return self._conversion(plan, metric, tuple(sorted(set(filters))), offset, to_grain)
        if metric.type is MetricType.cumulative:
            if to_grain is not None:
                raise UnsupportedError(
                    f"offset_to_grain over the cumulative metric '{metric.name}' is not supported",
                    zh=f"累计指标 '{metric.name}' 不支持 offset_to_grain",
                )
            node = self._cumulative(plan, metric, filters, offset)
            if metric.fill_nulls_with is not None:
                node = exp.func("COALESCE", node, _number(metric.fill_nulls_with))
            return node
        raise UnsupportedError(
            f"metric '{metric.name}' of type {metric.type.value} cannot be queried yet",
            zh=f"指标 '{metric.name}'（{metric.type.value}）暂不支持查询",
        )

    def _input(
        self,
        plan: _Plan,
        ref: MetricInput,
        filters: tuple[str, ...],
        offset: Offset | None,
        depth: int,
        to_grain: Grain | None = None,
    ) -> exp.Expr:
        child_filters = (*filters, ref.filter) if ref.filter else filters
        child_offset = _add_offsets(offset, parse_window(ref.offset_window) if ref.offset_window else None)
        child_grain = ref.offset_to_grain or to_grain
        if child_grain is not None and (child_offset is not None or (ref.offset_to_grain and to_grain)):
            # MetricFlow allows one of the two per input; nesting them has no agreed meaning
            raise UnsupportedError(
                f"input '{ref.ref}': offset_to_grain combined with another time offset is not supported",
                zh=f"输入 '{ref.ref}'：offset_to_grain 不能与其他时间偏移叠加",
            )
        return self._expand(plan, self.catalog.metric(ref.name), child_filters, child_offset, depth + 1, child_grain)

    def _cumulative(
        self, plan: _Plan, metric: Metric, filters: tuple[str, ...], offset: Offset | None
    ) -> exp.Expr:
        base = self.catalog.metric(metric.input_metric.name) if metric.input_metric else metric
        if metric.input_metric and metric.input_metric.filter:
            filters = (*filters, metric.input_metric.filter)
        if base.type is not MetricType.simple and base is not metric:
            raise QueryError(f"cumulative metric '{metric.name}' must accumulate a simple metric")
        if base.filter and base is not metric:
            filters = (*filters, base.filter)
        rm = self.catalog.resolve_measure(base)
        assert rm.agg_time_dimension is not None
        if self._non_additive(rm, base) is not None:
            raise UnsupportedError(
                f"cumulative metric '{metric.name}' over the semi-additive measure '{rm.name}' cannot be computed "
                "exactly (non_additive_dimension inside a cumulative window)",
                zh=f"累计指标 '{metric.name}' 不能累计半可加度量 '{rm.name}'（non_additive_dimension）",
                location=self._nad_location(rm, base),
            )
        cum = Cumulative(parse_window(metric.window) if metric.window else None, metric.grain_to_date,
                         metric.period_agg)
        return plan.leaf(
            Leaf(rm.model.name, rm.agg, rm.expr, rm.agg_time_dimension, tuple(sorted(set(filters))), offset, cum,
                 compare=plan.compare)
        )

    def _conversion(
        self, plan: _Plan, metric: Metric, filters: tuple[str, ...], offset: Offset | None, to_grain: Grain | None
    ) -> exp.Expr:
        """Opportunities are the base measure; conversions are the conversion events, each credited
        to the latest base event of the same entity before it (within the window), and sliced by
        that base event's dimensions and time."""
        base = self.catalog.find_measure(metric.base_measure or "")
        conv = self.catalog.find_measure(metric.conversion_measure or "")
        if base is None or conv is None:
            raise QueryError(f"conversion metric '{metric.name}': unknown base or conversion measure")
        (bmodel, bmeas), (cmodel, cmeas) = base, conv
        for model, meas in ((bmodel, bmeas), (cmodel, cmeas)):
            if meas.non_additive_dimension is not None:
                raise UnsupportedError(
                    f"conversion metric '{metric.name}': the semi-additive measure '{meas.name}' cannot be "
                    "computed exactly as a conversion input (non_additive_dimension)",
                    zh=f"转化指标 '{metric.name}' 不能使用半可加度量 '{meas.name}'（non_additive_dimension）",
                    location=self._measure_location(model, meas.name, "non_additive_dimension"),
                )
        btime = bmeas.agg_time_dimension or bmodel.agg_time_dimension
        ctime = cmeas.agg_time_dimension or cmodel.agg_time_dimension
        assert btime is not None and ctime is not None and metric.entity is not None
        link = Conversion(cmodel.name, cmeas.expr or cmeas.name, ctime, metric.entity,
                          parse_window(metric.window) if metric.window else None,
                          tuple((p.base_property, p.conversion_property) for p in metric.constant_properties))
        conversions: exp.Expr = plan.leaf(
            Leaf(bmodel.name, cmeas.agg, "__cv_value", btime, filters, offset, None, None, to_grain, link))
        if metric.calculation == "conversions":
            out = conversions
        else:
            opportunities = plan.leaf(
                Leaf(bmodel.name, bmeas.agg, bmeas.expr or bmeas.name, btime, filters, offset, None, None, to_grain))
            out = exp.Div(this=exp.cast(conversions, "double", copy=False),
                          expression=exp.func("NULLIF", opportunities, exp.Literal.number(0)))
        if metric.fill_nulls_with is not None:
            out = exp.func("COALESCE", out, _number(metric.fill_nulls_with))
        return out

    def _non_additive(self, rm: ResolvedMeasure, metric: Metric) -> NonAdditive | None:
        """The measure's (or inline metric's) ``non_additive_dimension``, checked against its model:
        the dimension must be a time dimension and each window grouping an entity of that model."""
        nad = rm.measure.non_additive_dimension if rm.measure is not None else metric.non_additive_dimension
        if nad is None:
            return None
        dim = rm.model.dimension(nad.name)
        if dim is None or dim.type != "time":
            times = ", ".join(d.name for d in rm.model.dimensions if d.type == "time") or "none"
            raise QueryError(
                f"non_additive_dimension of '{rm.name}': '{nad.name}' is not a time dimension of semantic model "
                f"'{rm.model.name}' (expected one of: {times})",
                zh=f"'{rm.name}' 的 non_additive_dimension：'{nad.name}' 不是语义模型 '{rm.model.name}' 的时间维度",
                location=self._nad_location(rm, metric),
            )
        for g in nad.window_groupings:
            if rm.model.entity(g) is None:
                raise QueryError(
                    f"non_additive_dimension of '{rm.name}': window grouping '{g}' is not an entity of semantic "
                    f"model '{rm.model.name}' (expected one of: {', '.join(e.name for e in rm.model.entities)})",
                    zh=f"'{rm.name}' 的 non_additive_dimension：window_groupings 中的 '{g}' 不是实体",
                    location=self._nad_location(rm, metric),
                )
        return (nad.name, nad.window_choice, tuple(nad.window_groupings))

    def _measure_location(self, model: SemanticModel, measure: str, *sub: str) -> Location | None:
        origin = self.catalog.origins.get(f"model:{model.name}")
        index = next((i for i, m in enumerate(model.measures) if m.name == measure), None)
        if origin is None or index is None:
            return None
        return origin.location("measures", index, *sub)

    def _nad_location(self, rm: ResolvedMeasure, metric: Metric) -> Location | None:
        """Where the ``non_additive_dimension`` behind ``rm`` is written (file, line, field)."""
        if rm.measure is not None:
            return self._measure_location(rm.model, rm.measure.name, "non_additive_dimension")
        origin = self.catalog.origins.get(f"metric:{metric.name}")
        return origin.location("non_additive_dimension") if origin is not None else None

    def _converted(self, bmodel: SemanticModel, link: Conversion, base_time: str, alias: str) -> exp.Expr:
        """The base model's rows that a conversion event is credited to, one row per conversion event,
        with the conversion's value in ``__cv_value``: window functions only, on every dialect."""
        cmodel = self.catalog.model(link.model)

        def col(model: SemanticModel, name: str, table: str) -> exp.Expr:
            ent = model.entity(name)
            dim = model.dimension(name)
            text = (ent.expr if ent else None) or (dim.expr if dim else None) or name
            return self._qualify(text, table)

        # an id per conversion event; Spark numbers rows only in an order (any order will do)
        cid_order = (exp.Order(expressions=[exp.Ordered(this=col(cmodel, link.time_dim, "c0"), nulls_first=False)])
                     if self.dialect == "spark" else None)
        events = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("c0")),
                            exp.alias_(exp.Window(this=exp.RowNumber(), order=cid_order), "__cid"), copy=False)
        events.from_(self._source(cmodel, "c0"), copy=False)
        btime = col(bmodel, base_time, "b")
        ctime = col(cmodel, link.time_dim, "c")
        on: list[exp.Expr] = [exp.EQ(this=col(bmodel, link.entity, "b"), expression=col(cmodel, link.entity, "c")),
                              exp.LTE(this=btime.copy(), expression=ctime.copy())]
        if link.window is not None:
            on.append(exp.GT(this=btime.copy(), expression=dx.shift(ctime.copy(), -link.window[0], link.window[1],
                                                                   self.dialect)))
        for bp, cp in link.constant:
            on.append(exp.EQ(this=col(bmodel, bp, "b"), expression=col(cmodel, cp, "c")))
        latest = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("__cid", table="c")],
                            order=exp.Order(expressions=[exp.Ordered(this=btime.copy(), desc=True, nulls_first=False)]))
        pairs = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("b")),
                           exp.alias_(self._qualify(link.expr, "c"), "__cv_value"),
                           exp.alias_(latest, "__rn"), copy=False)
        pairs.from_(self._source(bmodel, "b"), copy=False)
        pairs.join(exp.paren(events, copy=False).as_("c", copy=False), on=exp.and_(*on, copy=False),
                   join_type="inner", copy=False)
        credited = exp.select(exp.Star(), copy=False).from_(exp.paren(pairs, copy=False).as_("p", copy=False),
                                                              copy=False)
        credited.where(exp.EQ(this=exp.column("__rn"), expression=exp.Literal.number(1)), copy=False)
        return exp.paren(credited, copy=False).as_(alias, copy=False)

    # ------------------------------------------------------------------ leaf SQL
    def _qualify(self, text: str, alias: str) -> exp.Expr:
        """A definition's column expression with its columns bound to table ``alias``."""
        if _IDENT.match(text):
            return exp.column(text, table=alias)
        if text not in self._parsed:
            try:
                self._parsed[text] = sqlglot.parse_one(text, read="duckdb")
            except sqlglot.errors.ParseError as exc:
                reason = str(exc).splitlines()[0][:300]
                raise QueryError(f"cannot parse expression {quote_input(text)}: {reason}") from None

        def q(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and not node.table:
                return exp.column(node.name, table=alias, quoted=False)
            return node

        return self._parsed[text].transform(q)

    def _source(self, model: SemanticModel, alias: str) -> exp.Expr:
        if model.sql:
            return exp.paren(sqlglot.parse_one(model.sql, read="duckdb"), copy=False).as_(alias, copy=False)
        name = model.table or ""
        if model.node_relation:
            nr = model.node_relation
            name = ".".join(p for p in (nr.schema_name, nr.alias) if p)
        return exp.to_table(name).as_(alias, copy=False)

    def _agg(self, leaf: Leaf, value: exp.Expr) -> exp.Expr:
        match leaf.agg:
            case Agg.sum:
                return exp.Sum(this=value)
            case Agg.count:
                return exp.Count(this=value)
            case Agg.count_distinct:
                return exp.Count(this=exp.Distinct(expressions=[value]))
            case Agg.sum_boolean:
                return exp.Sum(
                    this=exp.Case(ifs=[exp.If(this=value, true=exp.Literal.number(1))], default=exp.Literal.number(0))
                )
            case Agg.min:
                return exp.Min(this=value)
            case Agg.max:
                return exp.Max(this=value)
            case Agg.average:
                return exp.Avg(this=value)
            case Agg.median:
                dx.require(self.dialect, "median", "median")
                return dx.percentile(value, 0.5, self.dialect)
            case Agg.percentile:
                assert leaf.percentile is not None
                return dx.percentile(
                    value, leaf.percentile[0], self.dialect, discrete=leaf.percentile[1], approximate=leaf.percentile[2]
                )
        raise QueryError(f"aggregation {leaf.agg} is not supported")

    def _join_path(
        self,
        select: exp.Select,
        joins: dict[tuple[str, ...], str],
        path: tuple[Hop, ...],
        base_alias: str,
        base_model: SemanticModel | None = None,
        join_type: str = "left",
        at: exp.Expr | None = None,
    ) -> str:
        """Add LEFT JOINs for ``path`` (once per distinct path) and return the alias of its end.

        Besides the entity, two models that share a partition dimension (``is_partition`` on both,
        same name) are joined on it too, as MetricFlow does: a daily snapshot joins its own day.
        A slowly changing dimension (time dimensions with ``validity_params`` is_start / is_end)
        joins the version valid at ``at``, the base row's time.
        """
        alias = base_alias
        # a multi-hop path gets joins of its own, as MetricFlow joins each multi-hop dimension's
        # source as one subquery: two dimensions behind the same bridge do not share its rows
        key: tuple[str, ...] = ("via", path[-1].target.name) if len(path) > 1 else ()
        if len(path) == 1 and (path[0].entity, path[0].target.name) not in joins:
            # a one-hop dimension of a bridge reads the first multi-hop join through it (MetricFlow)
            first_hop = (path[0].entity, path[0].target.name)
            shared = next((a for k, a in joins.items() if k[:1] == ("via",) and k[2:4] == first_hop), None)
            if shared is not None:
                return shared
        # partition columns seen so far on the left side (the nearest model's wins)
        partitions: dict[str, exp.Expr] = {}
        if base_model is not None:
            partitions = {d.name: self._qualify(d.expr or d.name, alias) for d in base_model.dimensions
                          if d.is_partition}
        for hop in path:
            key = (*key, hop.entity, hop.target.name)
            if key not in joins:
                joins[key] = f"j{len(joins)}"
                left = self._qualify(hop.source_entity.expr or hop.source_entity.name, alias)
                right = self._qualify(hop.target_entity.expr or hop.target_entity.name, joins[key])
                on: list[exp.Expr] = [exp.EQ(this=left, expression=right)]
                for d in hop.target.dimensions:
                    if d.is_partition and d.name in partitions:
                        on.append(exp.EQ(this=partitions[d.name].copy(),
                                         expression=self._qualify(d.expr or d.name, joins[key])))
                if at is not None:
                    on += self._validity(hop.target, joins[key], at)
                select.join(
                    self._source(hop.target, joins[key]),
                    on=exp.and_(*on, copy=False),
                    join_type=join_type,
                    copy=False,
                )
            alias = joins[key]
            partitions.update({d.name: self._qualify(d.expr or d.name, alias) for d in hop.target.dimensions
                               if d.is_partition})
        return alias

    def _validity(self, model: SemanticModel, alias: str, at: exp.Expr) -> list[exp.Expr]:
        """``start <= at < end`` (an open end: still valid) for a model with validity windows."""
        out: list[exp.Expr] = []
        for d in model.dimensions:
            params = (d.type_params.validity_params if d.type_params else None) or {}
            col = self._qualify(d.expr or d.name, alias)
            if params.get("is_start"):
                out.append(exp.GTE(this=at.copy(), expression=col))
            elif params.get("is_end"):
                out.append(exp.paren(exp.or_(exp.LT(this=at.copy(), expression=col.copy()),
                                             exp.Is(this=col.copy(), expression=exp.Null()))))
        return out

    def _group_sql(
        self,
        leaves: list[tuple[Leaf, str]],
        dims: list[str],
        where: list[Filter],
        window: tuple[dt.datetime | None, dt.datetime | None],
        grain: Grain,
        policy: tuple[str, ...] = (),
    ) -> tuple[exp.Select, list[str]]:
        """One aggregate subquery for leaves sharing model, filters, offset and window.

        The model's aggregation time dimension is the leaf's time axis, whatever it is called
        (``metric_time__day`` or ``booking__ds__day``): offsets shift it, and cumulative windows
        and ``offset_to_grain`` replace it by the output period ``sp.__t`` of a spine joined to the
        rows. Filters on that axis then hold for the output period, as in MetricFlow.
        """
        first = leaves[0][0]
        model = self.catalog.model(first.model)
        base = "t0"
        source = (self._converted(model, first.conversion, first.time_dim, base) if first.conversion
                  else self._source(model, base))
        select = exp.select().from_(source, copy=False)
        joins: dict[tuple[str, ...], str] = {}
        customs: dict[str, str] = {}
        operands: dict[str, str] = {}
        tdim = model.dimension(first.time_dim)
        time_col = self._qualify((tdim.expr if tdim else None) or first.time_dim, base)
        refs = {name: resolve(self.catalog, model, name, first.time_dim) for name in dims}
        timey = [refs[n] for n in dims if _is_agg_time(refs[n], first.time_dim)]
        # a calendar offset (months, quarters, years) over days is not a one-to-one shift: Mar 30
        # and Mar 31 both show Feb 29's value, and Jan 30 and Jan 31 show nothing on their own.
        # Each output period p then takes the rows at p - offset, through a spine, as MetricFlow.
        by_offset = first.cumulative is None and first.to_grain is None and _calendar_offset(first.offset, timey)
        spined = first.cumulative is not None or first.to_grain is not None or by_offset
        bg = _base_grain(tdim, timey, grain) if spined and timey else grain
        t = exp.column("__t", table="sp")

        start, end = window
        if first.offset:
            start = _shift_dt(start, -first.offset[0], first.offset[1])
            end = _shift_dt(end, -first.offset[0], first.offset[1])
        conds: list[exp.Expr] = []
        if spined:  # joined first: custom-grain joins below may read the period
            self._spine_join(select, model, first, time_col, bg, timey, window, (start, end), grain, conds)

        def column(ref: DimRef) -> exp.Expr:
            alias = self._join_path(select, joins, ref.path, base, model, at=time_col)
            return self._qualify(ref.expr, alias)

        def dim_expr(name: str, for_filter: bool = False) -> tuple[exp.Expr, bool]:
            mref = metric_ref(name)
            if mref is not None:
                return self._metric_operand(select, operands, mref, lambda n: column(
                    resolve(self.catalog, model, n, first.time_dim)), policy), False
            ref = refs.get(name) or resolve(self.catalog, model, name, first.time_dim)
            agg_time = _is_agg_time(ref, first.time_dim)
            native: Grain | None = None  # the grain ``value`` is already truncated to
            if agg_time and spined:
                value: exp.Expr = t.copy()
                native = bg
            else:
                value = column(ref)
            if agg_time and first.offset is not None and not by_offset:  # a row at t counts at t + offset
                value = dx.shift(value, first.offset[0], first.offset[1], self.dialect)
                native = native if native is not None and _aligned(first.offset, native) else None
            if ref.date_part is not None:
                return dx.extract(value, ref.date_part, self.dialect), False
            if ref.custom_grain is not None:
                return self._custom_value(select, customs, value, ref.custom_grain), ref.is_time
            if ref.is_time and ref.grain is not None and ref.grain is not native and not (
                for_filter and "__" not in name
            ):
                value = dx.trunc(value, ref.grain, self.dialect)
            return value, ref.is_time

        group: list[exp.Expr] = []
        out_names = []
        for name in dims:
            value, _ = dim_expr(name)
            select.select(exp.alias_(value, name, quoted=True, copy=False), copy=False)
            group.append(value)
            out_names.append(name)
        two_stage = first.cumulative is not None and any(
            r.date_part is not None or r.custom_grain is not None or r.grain is not bg for r in timey
        )
        if two_stage:
            select.select(exp.alias_(t.copy(), "__t", quoted=True, copy=False), copy=False)
            group.append(t.copy())
        semi = first.non_additive
        for i, (leaf, alias) in enumerate(leaves):
            value = self._qualify(leaf.expr, base)
            select.select(exp.alias_(value if semi else self._agg(leaf, value), f"__v{i}" if semi else alias,
                                     quoted=True, copy=False), copy=False)
        for f in [*where, *(_parse(text) for text in first.filters)]:
            try:
                conds.append(to_sql(f.root, lambda n: dim_expr(n, for_filter=True)))
            except QueryError as exc:
                raise QueryError(f"filter {quote_input(f.text)}: {exc.message}") from None
        if not spined:
            if start is not None:
                conds.append(exp.GTE(this=time_col.copy(), expression=dx.timestamp_literal(start.isoformat(sep=" "))))
            if end is not None:
                conds.append(exp.LT(this=time_col.copy(), expression=dx.timestamp_literal(end.isoformat(sep=" "))))
        if conds:
            select.where(exp.and_(*conds, copy=False), copy=False)
        if semi is not None:
            return self._semi_additive(select, model, base, semi, leaves, out_names, refs), out_names
        if group:
            select.group_by(*group, copy=False)
        if two_stage:
            assert first.cumulative is not None
            return self._period_agg(select, out_names, [a for _, a in leaves], first.cumulative.period_agg), out_names
        return select, out_names

    def _semi_additive(
        self,
        rows: exp.Select,
        model: SemanticModel,
        base: str,
        semi: NonAdditive,
        leaves: list[tuple[Leaf, str]],
        dims: list[str],
        refs: dict[str, DimRef],
    ) -> exp.Select:
        """Aggregate only the rows at the first/last value of the non-additive time dimension.

        ``rows`` holds the filtered, joined rows (group-by columns and raw values ``__v<i>``). As
        MetricFlow defines it, the min/max is taken over those rows per window-grouping entity and
        per requested period of that dimension (``metric_time`` when it is the measure's time
        axis), not per other group-by: a balance is the accounts' last balance in each period.
        A window function picks it, so every dialect with window functions runs it unchanged.
        """
        name, choice, groupings = semi
        leaf = leaves[0][0]
        dim = model.dimension(name)
        assert dim is not None
        rows.select(exp.alias_(dx.trunc(self._qualify(dim.expr or dim.name, base), dim.grain, self.dialect),
                               "__nad_t", quoted=True, copy=False), copy=False)
        partition: list[exp.Expr] = []
        for k, g in enumerate(groupings):
            ent = model.entity(g)
            assert ent is not None
            rows.select(exp.alias_(self._qualify(ent.expr or ent.name, base), f"__nad_g{k}", quoted=True,
                                   copy=False), copy=False)
            partition.append(exp.column(f"__nad_g{k}", table="na", quoted=True))
        period = next((d for d in dims if not refs[d].path and refs[d].dimension is not None and refs[d].is_time
                       and (refs[d].dimension.name == name if not refs[d].is_metric_time  # type: ignore[union-attr]
                            else name == leaf.time_dim)), None)
        if period is not None:
            partition.append(exp.column(period, table="na", quoted=True))
        values = [f"__v{i}" for i in range(len(leaves))]
        pick = exp.Window(this=(exp.Min if choice == "min" else exp.Max)(this=exp.column("__nad_t", table="na",
                                                                                           quoted=True)),
                          partition_by=partition or None)
        ranked = exp.select(*(exp.column(c, table="na", quoted=True) for c in [*dims, *values, "__nad_t"]),
                            exp.alias_(pick, "__nad_pick", quoted=True, copy=False), copy=False)
        ranked.from_(exp.paren(rows, copy=False).as_("na", copy=False), copy=False)
        out = exp.select(*(exp.column(d, table="nb", quoted=True).as_(d, quoted=True, copy=False) for d in dims),
                         copy=False)
        for (lf, alias), v in zip(leaves, values, strict=True):
            out.select(exp.alias_(self._agg(lf, exp.column(v, table="nb", quoted=True)), alias, quoted=True,
                                  copy=False), copy=False)
        out.from_(exp.paren(ranked, copy=False).as_("nb", copy=False), copy=False)
        out.where(exp.EQ(this=exp.column("__nad_t", table="nb", quoted=True),
                         expression=exp.column("__nad_pick", table="nb", quoted=True)), copy=False)
        if dims:
            out.group_by(*(exp.column(d, table="nb", quoted=True) for d in dims), copy=False)
        return out

    def _period_agg(self, inner: exp.Select, dims: list[str], aliases: list[str], how: str) -> exp.Select:
        """A cumulative metric at a coarser grain than its periods: each output period's value is
        the first, last or average of its days' values (MetricFlow's ``period_agg``)."""
        cols = [exp.column(d, quoted=True) for d in dims]
        src = exp.paren(inner, copy=False).as_("pa", copy=False)
        if how == "average":
            out = exp.select(*(c.copy() for c in cols), copy=False)
            for a in aliases:
                out.select(exp.alias_(exp.Avg(this=exp.column(a, quoted=True)), a, quoted=True, copy=False), copy=False)
            return out.from_(src, copy=False).group_by(*(c.copy() for c in cols), copy=False)
        order = exp.Order(expressions=[exp.Ordered(this=exp.column("__t", quoted=True), desc=how == "last",
                                                   nulls_first=False)])
        picked = exp.select(*(c.copy() for c in cols), copy=False)
        for a in aliases:
            win = exp.Window(this=exp.FirstValue(this=exp.column(a, quoted=True)),
                             partition_by=[c.copy() for c in cols], order=order.copy())
            picked.select(exp.alias_(win, a, quoted=True, copy=False), copy=False)
        picked.from_(src, copy=False)
        out = exp.select(*(c.copy() for c in cols), copy=False)
        for a in aliases:
            out.select(exp.alias_(exp.Max(this=exp.column(a, quoted=True)), a, quoted=True, copy=False), copy=False)
        return out.from_(exp.paren(picked, copy=False).as_("pw", copy=False), copy=False).group_by(
            *(c.copy() for c in cols), copy=False)

    def _metric_operand(
        self,
        select: exp.Select,
        joined: dict[str, str],
        ref: MetricRef,
        key: Callable[[str], exp.Expr],
        policy: tuple[str, ...],
    ) -> exp.Expr:
        """A metric used in a filter: computed per entity in a subquery (all time, the row policies
        applied), LEFT JOINed on that entity, so rows without a value fail the condition."""
        if ref.key not in joined:
            self._check_metric_refs(ref.name)
            sub = self._compile(MetricQuery(metrics=[ref.name], group_by=list(ref.group_by)), policy).ast.copy()
            assert isinstance(sub, exp.Select)
            sub.set("order", None)
            alias = f"mq{len(joined)}"
            on = [exp.EQ(this=key(k), expression=exp.column(g, table=alias, quoted=True))
                  for k, g in zip(ref.join_keys(), ref.group_by, strict=True)]
            select.join(exp.paren(sub, copy=False).as_(alias, copy=False), on=exp.and_(*on, copy=False),
                        join_type="left", copy=False)
            joined[ref.key] = alias
        return exp.column(ref.name, table=joined[ref.key], quoted=True)

    def _check_metric_refs(self, name: str) -> None:
        """A metric whose filters (through its inputs) use the metric itself has no value."""
        todo, seen = [name], set()
        while todo:
            metric = self.catalog.metric(todo.pop())
            if metric.name in seen:
                continue
            seen.add(metric.name)
            texts = [metric.filter] + [r.filter for r in (metric.numerator, metric.denominator, metric.input_metric,
                                                          *metric.input_metrics) if r is not None]
            for text in filter(None, texts):
                for ref in _parse(text).metric_refs():
                    if ref.name == name:
                        raise QueryError(f"metric '{name}' is used in its own filter (through '{metric.name}')",
                                         zh=f"指标 '{name}' 的过滤条件引用了它自身")
                    todo.append(ref.name)
            todo += self.catalog.inputs(metric)

    def _custom_value(self, select: exp.Select, joined: dict[str, str], value: exp.Expr, name: str) -> exp.Expr:
        """``value`` at custom granularity ``name``: looked up in the time spine that defines it
        (one LEFT JOIN per distinct time expression and spine)."""
        found = self.catalog.custom_grain(name)
        assert found is not None
        spine, grain = found
        day = dx.trunc(value.copy(), spine.grain, self.dialect)
        key = f"{spine.table}|{day.sql()}"
        if key not in joined:
            alias = f"c{len(joined)}"
            select.join(
                exp.to_table(spine.table).as_(alias, copy=False),
                on=exp.EQ(this=exp.column(spine.column, table=alias), expression=day),
                join_type="left",
                copy=False,
            )
            joined[key] = alias
        return exp.column(grain.column_name, table=joined[key])

    def _spine_join(
        self,
        select: exp.Select,
        model: SemanticModel,
        leaf: Leaf,
        time_col: exp.Expr,
        bg: Grain,
        timey: list[DimRef],
        window: tuple[dt.datetime | None, dt.datetime | None],
        shifted: tuple[dt.datetime | None, dt.datetime | None],
        grain: Grain,
        conds: list[exp.Expr],
    ) -> None:
        """Join each row to the output periods ``sp.__t`` it counts for.

        Cumulative: every period whose window holds the row; ``offset_to_grain``: every period
        whose start of ``to_grain`` is the row's period. The periods come from the project's time
        spine when there is one (a period without rows of its own still gets a value), else from
        the model's own rows.
        """
        cum = leaf.cumulative
        start, end = shifted
        by_offset = cum is None and leaf.to_grain is None and leaf.offset is not None
        if by_offset:
            start, end = window  # the spine holds output periods: the query's own range
        if cum is not None and leaf.offset is not None:
            # MetricFlow bounds the cumulative periods by the query's range before shifting them
            # too; keeping both bounds gives its rows. The previous period (compare) is that
            # query over the earlier range: its bound moves with it (else last week's running
            # total of a this-week range is empty)
            lo, hi = window
            if leaf.compare is not None:
                lo = _shift_dt(lo, -leaf.compare[0], leaf.compare[1])
                hi = _shift_dt(hi, -leaf.compare[0], leaf.compare[1])
            start = max(start, lo) if start is not None and lo is not None else start
            end = min(end, hi) if end is not None and hi is not None else end
        sconds: list[exp.Expr] = []
        if timey:
            spine = next((sp for sp in sorted(self.catalog.time_spines, key=lambda sp: -sp.grain.order)
                          if sp.grain.order <= bg.order), None)
            raw: exp.Expr
            if spine is not None:
                raw = exp.column(spine.column, table="s")
                src = exp.to_table(spine.table).as_("s", copy=False)
            else:
                tdim = model.dimension(leaf.time_dim)
                raw = self._qualify((tdim.expr if tdim else None) or leaf.time_dim, "s")
                src = self._source(model, "s")
            period = dx.trunc(raw.copy(), bg, self.dialect)
            spine_sel = exp.select(exp.alias_(period, "__t")).distinct().from_(src)
            bound = period if spine is not None else raw
            if by_offset and spine is None:
                # without a spine, the periods the rows land on: p with p - offset = a row's
                # period is the row's period + offset, or up to 3 days after it at a month's end
                assert leaf.offset is not None
                parts = []
                for k in range(4):
                    moved = dx.shift(dx.shift(period.copy(), leaf.offset[0], leaf.offset[1], self.dialect), k,
                                     Grain.day, self.dialect)
                    parts.append(exp.select(exp.alias_(dx.trunc(moved, bg, self.dialect), "__t")).from_(
                        self._source(model, "s")))
                union: exp.Expr = parts[0]
                for part in parts[1:]:
                    union = exp.union(union, part, distinct=True)
                spine_sel = exp.select(exp.column("__t")).distinct().from_(exp.paren(union).as_("sh"))
                bound = exp.column("__t")
            if start is not None:
                sconds.append(exp.GTE(this=bound.copy(), expression=dx.timestamp_literal(start.isoformat(sep=" "))))
            if end is not None:
                sconds.append(exp.LT(this=bound.copy(), expression=dx.timestamp_literal(end.isoformat(sep=" "))))
            coarser = {r.grain for r in timey if r.grain is not None and r.date_part is None and r.custom_grain is None}
            if leaf.to_grain is not None and all(g is not None and g.order > bg.order for g in coarser) and coarser:
                # only the first period of each requested grain carries an offset_to_grain value
                sconds.append(exp.or_(*(exp.EQ(this=dx.trunc(period.copy(), g, self.dialect), expression=period.copy())
                                        for g in sorted(coarser, key=lambda g: g.order))))
            if sconds:
                spine_sel = spine_sel.where(exp.and_(*sconds))
        elif leaf.to_grain is not None:
            raise QueryError(
                "offset_to_grain needs metric_time (or the metric's time dimension) in the query",
                zh="offset_to_grain 需要按 metric_time（或指标的时间维度）分组",
            )
        else:
            assert cum is not None
            if end is None and cum.window is None and cum.grain_to_date is None:
                return  # all-time total, no period: every row counts
            if end is None:
                raise QueryError("a cumulative metric without metric_time needs an end date")
            last = _shift_dt(end, -1, grain)
            assert last is not None
            spine_sel = exp.select(exp.alias_(dx.timestamp_literal(last.isoformat(sep=" ")), "__t"))
            bg = grain
        t = exp.column("__t", table="sp")
        on: list[exp.Expr]
        if by_offset:
            assert leaf.offset is not None
            on = [exp.EQ(this=dx.trunc(time_col.copy(), bg, self.dialect),
                         expression=dx.shift(t.copy(), -leaf.offset[0], leaf.offset[1], self.dialect))]
            select.join(exp.paren(spine_sel, copy=False).as_("sp", copy=False), on=exp.and_(*on, copy=False),
                        join_type="inner", copy=False)
            return
        if leaf.to_grain is not None:
            on = [exp.EQ(this=dx.trunc(time_col.copy(), bg, self.dialect),
                         expression=dx.trunc(t.copy(), leaf.to_grain, self.dialect))]
        else:
            assert cum is not None
            on = [exp.LT(this=time_col.copy(), expression=dx.shift(t, 1, bg, self.dialect))]
            if cum.window is not None:  # the window ends at the period: rows after (period - window)
                on.append(
                    exp.GT(
                        this=dx.trunc(time_col.copy(), bg, self.dialect),
                        expression=dx.shift(t.copy(), -cum.window[0], cum.window[1], self.dialect),
                    )
                )
            elif cum.grain_to_date is not None:
                on.append(exp.GTE(this=time_col.copy(), expression=dx.trunc(t.copy(), cum.grain_to_date, self.dialect)))
        select.join(
            exp.paren(spine_sel, copy=False).as_("sp", copy=False),
            on=exp.and_(*on, copy=False),
            join_type="inner",
            copy=False,
        )
        if end is not None:
            conds.append(exp.LT(this=time_col.copy(), expression=dx.timestamp_literal(end.isoformat(sep=" "))))

    # ------------------------------------------------------------------ the whole query
    def compile(
        self, query: MetricQuery, *, policy_filters: tuple[str, ...] = (), dedupe: bool = True
    ) -> CompiledQuery:
        """Compile ``query``; ``policy_filters`` (row-level security) apply to every leaf.

        ``dedupe=False`` (MetricFlow's ``apply_group_by: false``) lists a dimension-only query's
        rows as they are, one per model row and time-spine period, without DISTINCT.
        """
        key = (query.cache_key(), policy_filters, dedupe)
        if key in self._cache:
            return self._cache[key]
        if not dedupe and query.metrics:
            raise UnsupportedError(
                "rows without deduplication (apply_group_by: false) apply to queries without metrics only",
                zh="不去重（apply_group_by: false）只适用于不含指标的查询",
            )
        compiled = self._compile_values(query, policy_filters, dedupe) if not dedupe else self._compile(
            query, policy_filters)
        if len(self._cache) > 512:
            self._cache.clear()
        self._cache[key] = compiled
        return compiled

    def _compile(self, query: MetricQuery, policy_filters: tuple[str, ...]) -> CompiledQuery:
        if not query.metrics:
            return self._compile_values(query, policy_filters)
        dims = query.dimensions()
        if any(d == "metric_time" for d in dims):
            raise QueryError("metric_time needs a grain: use metric_time__day or --grain day")
        plan = _Plan()
        metric_exprs: dict[str, exp.Expr] = {}
        for name in query.metrics:
            metric_exprs[name] = self._expand(plan, self.catalog.metric(name), (), None)
        # the time axis: metric_time, or the metrics' own aggregation time dimension by name
        timey = self._time_like(dims, list(plan.leaves))
        time_dims = [d for d, r in timey.items() if r.grain is not None and r.date_part is None
                     and r.custom_grain is None]
        grains = [r.grain for r in timey.values() if r.grain is not None and r.date_part is None]
        # several grains of metric_time may be asked together: windows follow the finest
        grain = min(grains, key=lambda g: g.order) if grains else (query.grain or Grain.day)
        # without metric_time the window snaps to the coarsest time grain of the metrics (MetricFlow)
        snap = grain if grains or query.grain else self._coarsest_grain(query.metrics)
        if not grains and any(t is not None and (t.hour or t.minute) for t in (query.start, query.end)):
            snap = Grain.hour  # a window given with hours (an incident window) snaps to hours
        start = _floor(query.start, snap) if query.start else None
        end = _shift_dt(_floor(query.end, snap), 1, snap) if query.end else None
        where = [_parse(query.where)] if query.where else []
        where += [_parse(p) for p in policy_filters]

        compare_exprs: dict[str, exp.Expr] = {}
        shift = _compare_offset(query.compare, time_dims, grain, start, end) if query.compare else None
        for name in query.metrics:
            if shift is not None:
                plan.compare = shift
                compare_exprs[name] = self._expand(plan, self.catalog.metric(name), (), shift)
                plan.compare = None

        groups: dict[tuple[Any, ...], list[tuple[Leaf, str]]] = {}
        for leaf, alias in plan.leaves.items():
            groups.setdefault(leaf.group_key, []).append((leaf, alias))
        branches, ctes = self._branches(list(groups.values()), dims, timey, where, (start, end), grain,
                                        policy_filters)

        if len(branches) == 1:
            source: exp.Expr = exp.paren(branches[0][0], copy=False).as_("m", copy=False)
        else:
            source = self._merge(branches, dims)

        outer = exp.select().from_(source, copy=False)
        for name, cte in ctes:
            outer.with_(name, as_=cte, copy=False)
        spine_dim = self._join_spine(outer, query, timey, grain, start, end)
        columns: list[OutputColumn] = []
        for d in dims:
            table = "sp" if d == spine_dim else "m"
            outer.select(exp.column(d, table=table, quoted=True).as_(d, quoted=True, copy=False), copy=False)
            columns.append(
                OutputColumn(
                    d,
                    "dimension",
                    is_time=d.startswith("metric_time") or ("__" in d and d.rsplit("__", 1)[1] in Grain.__members__),
                )
            )
        for name, e in metric_exprs.items():
            outer.select(exp.alias_(_qualify_leaves(e, "m"), name, quoted=True, copy=False), copy=False)
            columns.append(OutputColumn(name, "metric", name))
            if name in compare_exprs:
                cur, prev = _qualify_leaves(e, "m"), _qualify_leaves(compare_exprs[name], "m")
                delta = exp.Sub(this=exp.paren(cur.copy()), expression=exp.paren(prev.copy()))
                pct = exp.Div(
                    this=exp.cast(exp.paren(delta.copy(), copy=False), "double", copy=False),
                    expression=exp.func("NULLIF", exp.Abs(this=exp.paren(prev.copy())), exp.Literal.number(0)),
                )
                for suffix, value in (("prev", prev), ("delta", delta), ("pct", pct)):
                    outer.select(exp.alias_(value, f"{name}__{suffix}", quoted=True, copy=False), copy=False)
                    columns.append(OutputColumn(f"{name}__{suffix}", "compare", name))
        names = [c.name for c in columns]
        order = query.order_by or list(dims)
        for item in order:
            desc = item.startswith("-")
            col = item.lstrip("-")
            if col not in names:
                raise QueryError(
                    f"cannot order by '{col}': not an output column ({', '.join(names)})",
                    zh=f"无法按 '{col}' 排序：不是输出列",
                )
            # NULLs last in both directions, the same on every dialect
            outer.order_by(exp.Ordered(this=exp.column(col, quoted=True), desc=desc, nulls_first=False), copy=False)
        if query.limit:
            outer.limit(query.limit, copy=False)
        sql = dx.render(outer, self.dialect)
        return CompiledQuery(sql, outer, self.dialect, columns, query)

    def _join_spine(self, outer: exp.Select, query: MetricQuery, timey: dict[str, DimRef], grain: Grain,
                    start: dt.datetime | None, end: dt.datetime | None) -> str | None:
        """``join_to_timespine``: every period of the time spine appears, with or without rows.

        The merged result is LEFT JOINed to the spine's periods (in the query's range), so a
        metric with ``fill_nulls_with`` shows its fill value for empty periods. Applies when the
        query groups by one time column (metric_time or the metrics' own time dimension, at a
        grain or a custom granularity); returns that column's name.
        """
        wanted = any(self._joins_spine(self.catalog.metric(n)) for n in query.metrics)
        if not wanted or len(timey) != 1:
            return None
        name, ref = next(iter(timey.items()))
        if ref.date_part is not None or ref.grain is None:
            return None
        found = self.catalog.custom_grain(ref.custom_grain) if ref.custom_grain else None
        spine = found[0] if found else self._spine(grain)
        raw = exp.column(spine.column, table="ts")
        period = dx.trunc(raw.copy(), grain, self.dialect)
        t = exp.column(found[1].column_name, table="ts") if found else period
        sel = exp.select(exp.alias_(t, name, quoted=True)).distinct().from_(
            exp.to_table(spine.table).as_("ts", copy=False))
        conds: list[exp.Expr] = []
        if start is not None:
            conds.append(exp.GTE(this=period.copy(), expression=dx.timestamp_literal(start.isoformat(sep=" "))))
        if end is not None:
            conds.append(exp.LT(this=period.copy(), expression=dx.timestamp_literal(end.isoformat(sep=" "))))
        if conds:
            sel = sel.where(exp.and_(*conds))
        source = outer.args["from_"].this
        outer.from_(exp.paren(sel, copy=False).as_("sp", copy=False), copy=False)
        outer.join(source, on=exp.EQ(this=exp.column(name, table="sp", quoted=True),
                                     expression=exp.column(name, table="m", quoted=True)),
                   join_type="left", copy=False)
        # a query filter on output columns holds for the spine's rows too (MetricFlow applies it twice)
        if query.where:
            f = _parse(query.where)
            dims = query.dimensions()
            if f.identifiers() <= set(dims) | {"metric_time"} and not f.metric_refs():
                def col(n: str) -> tuple[exp.Expr, bool]:
                    on_spine = n == name or n.split("__")[0] == "metric_time"
                    return exp.column(name if on_spine else n, table="sp" if on_spine else "m", quoted=True), on_spine

                outer.where(to_sql(f.root, col), copy=False)
        return name

    def _filters_time(self, leaf: Leaf, where: list[Filter]) -> bool:
        """Does a query or leaf filter read the leaf's time axis?"""
        model = self.catalog.model(leaf.model)
        names = {n for f in [*where, *(_parse(t) for t in leaf.filters)] for n in f.identifiers()}
        for n in names:
            try:
                if _is_agg_time(resolve(self.catalog, model, n, leaf.time_dim), leaf.time_dim):
                    return True
            except QueryError:
                continue
        return False

    def _time_like(self, dims: list[str], leaves: list[Leaf]) -> dict[str, DimRef]:
        """The group-by names that are every leaf's own time axis (see :func:`_is_agg_time`)."""
        out: dict[str, DimRef] = {}
        axes = {(leaf.model, leaf.time_dim) for leaf in leaves}
        for name in dims:
            found: DimRef | None = None
            for model, time_dim in axes:
                try:
                    ref = resolve(self.catalog, self.catalog.model(model), name, time_dim)
                except QueryError:
                    found = None
                    break
                if not _is_agg_time(ref, time_dim):
                    found = None
                    break
                found = found or ref
            if found is not None:
                out[name] = found
        return out

    def _joins_spine(self, metric: Metric, depth: int = 0) -> bool:
        if metric.join_to_timespine:
            return True
        return depth < 20 and any(self._joins_spine(self.catalog.metric(n), depth + 1)
                                  for n in self.catalog.inputs(metric))

    # ------------------------------------------------------------------ dimension values (no metrics)
    def _compile_values(self, query: MetricQuery, policy_filters: tuple[str, ...],
                        dedupe: bool = True) -> CompiledQuery:
        """Distinct values of the group-by dimensions, as MetricFlow answers a query without metrics.

        Dimensions come from the one semantic model that reaches them all with the fewest joins;
        ``metric_time`` comes from the time spine (every period, with or without data) and is
        crossed with the other dimensions.
        """
        dims = query.dimensions()
        is_time = [split_date_part(d)[0].split("__")[0] == "metric_time" for d in dims]
        time_names = [d for d, t in zip(dims, is_time, strict=True) if t]
        other = [d for d, t in zip(dims, is_time, strict=True) if not t]
        spine_conds: list[Node] = []
        model_conds: list[Node] = []
        for text in ([query.where] if query.where else []) + list(policy_filters):
            root = _parse(text).root
            for item in root.items if isinstance(root, And) else (root,):
                names = {p.dim for p in walk(item) if isinstance(p, Predicate)}
                on_time = {n.split("__")[0] == "metric_time" for n in names}
                if on_time == {True}:
                    spine_conds.append(item)
                elif on_time == {False}:
                    model_conds.append(item)
                else:
                    raise UnsupportedError(
                        f"filter {quote_input(text)} mixes metric_time with other dimensions in one condition")
        outer = exp.select().distinct() if dedupe else exp.select()
        with_model = bool(other or model_conds)
        with_spine = bool(time_names or spine_conds or query.start or query.end)
        if with_model:
            sub = self._values_from_model(other, model_conds, query.where or "", policy_filters, dedupe)
            outer.from_(exp.paren(sub, copy=False).as_("d", copy=False), copy=False)
        if with_spine:
            sub = self._values_from_spine(time_names, spine_conds, query.start, query.end, dedupe)
            src = exp.paren(sub, copy=False).as_("s", copy=False)
            if not with_model:
                outer.from_(src, copy=False)
            else:
                # every period for each value of the base model; values only a joined model has
                # (FULL join) carry no period, and drop out when the periods are restricted
                restricted = bool(spine_conds or query.start or query.end)
                outer.join(src, on=exp.EQ(this=exp.column("__base", table="d", quoted=True),
                                          expression=exp.column("__on", table="s", quoted=True)),
                           join_type="inner" if restricted else "left", copy=False)
        columns = []
        for d, t in zip(dims, is_time, strict=True):
            outer.select(exp.column(d, table="s" if t else "d", quoted=True).as_(d, quoted=True, copy=False),
                         copy=False)
            columns.append(OutputColumn(d, "dimension", is_time=t))
        for order_item in query.order_by or dims:
            col = order_item.lstrip("-")
            if col not in dims:
                raise QueryError(f"cannot order by '{col}': not an output column ({', '.join(dims)})",
                                 zh=f"无法按 '{col}' 排序：不是输出列")
            outer.order_by(exp.Ordered(this=exp.column(col, quoted=True), desc=order_item.startswith("-"),
                                       nulls_first=False), copy=False)
        if query.limit:
            outer.limit(query.limit, copy=False)
        sql = dx.render(outer, self.dialect)
        return CompiledQuery(sql, outer, self.dialect, columns, query)

    def _values_from_model(self, names: list[str], conds: list[Node], text: str,
                           policy: tuple[str, ...] = (), dedupe: bool = True) -> exp.Select:
        needed = list(names) + sorted({n for c in conds for n in Filter(c, "").identifiers()})
        best: tuple[int, SemanticModel] | None = None
        for model in self.catalog.semantic_models.values():
            try:
                cost = sum(len(resolve(self.catalog, model, n).path) for n in needed)
            except QueryError:
                continue
            if best is None or cost < best[0]:
                best = (cost, model)
        if best is None:
            raise QueryError(f"no semantic model reaches all of {', '.join(needed)}",
                             zh=f"没有语义模型能同时提供 {', '.join(needed)}")
        model = best[1]
        select = exp.select().from_(self._source(model, "t0"), copy=False)
        joins: dict[tuple[str, ...], str] = {}
        # values of a joined model count even where no row of the base model points to them
        join_type = "full" if dx.capabilities(self.dialect).full_outer_join else "left"

        customs: dict[str, str] = {}
        operands: dict[str, str] = {}

        def dim_expr(name: str, for_filter: bool = False) -> tuple[exp.Expr, bool]:
            mref = metric_ref(name)
            if mref is not None:
                return self._metric_operand(select, operands, mref, lambda n: dim_expr(n)[0], policy), False
            ref = resolve(self.catalog, model, name)
            value = self._qualify(ref.expr, self._join_path(select, joins, ref.path, "t0", model, join_type))
            if ref.date_part is not None:
                return dx.extract(value, ref.date_part, self.dialect), False
            if ref.custom_grain is not None:
                return self._custom_value(select, customs, value, ref.custom_grain), True
            if ref.is_time and ref.grain is not None and not (for_filter and "__" not in name):
                value = dx.trunc(value, ref.grain, self.dialect)
            return value, ref.is_time

        group = []
        for n in names:
            value, _ = dim_expr(n)
            select.select(exp.alias_(value, n, quoted=True, copy=False), copy=False)
            group.append(value)
        # did the row come from the base model (and not only from a FULL-joined one)?
        key = next((e.expr or e.name for e in model.entities), None) or next(
            (d.expr or d.name for d in model.dimensions), None)
        base_flag: exp.Expr = (exp.not_(exp.Is(this=self._qualify(key, "t0"), expression=exp.Null()))
                               if key and joins else exp.true())
        select.select(exp.alias_(base_flag, "__base", quoted=True, copy=False), copy=False)
        if joins:  # a constant is no grouping key (PostgreSQL refuses GROUP BY TRUE)
            group.append(base_flag)
        elif not group:
            select.distinct(copy=False)
        if joins and join_type != "full":
            # without FULL OUTER JOIN the values only the joined model has would be lost silently
            raise UnsupportedError(
                f"listing dimension values across models ({', '.join(names)}) needs FULL OUTER JOIN, which "
                f"{self.dialect} lacks (missing capability: full_outer_join)",
                zh=f"跨模型列出维度值需要 FULL OUTER JOIN，{self.dialect} 不支持",
            )
        where = []
        for c in conds:
            try:
                where.append(to_sql(c, lambda n: dim_expr(n, for_filter=True)))
            except QueryError as exc:
                raise QueryError(f"filter {quote_input(text)}: {exc.message}") from None
        if where:
            select.where(exp.and_(*where, copy=False), copy=False)
        if dedupe:
            select.group_by(*group, copy=False)
        return select

    def _spine(self, grain: Grain) -> TimeSpine:
        """The coarsest time spine fine enough for ``grain``."""
        usable = [s for s in self.catalog.time_spines if s.grain.order <= grain.order]
        if not usable:
            raise UnsupportedError(
                f"metric_time at {grain.value} without metrics needs a time spine of that grain or finer "
                "(time_spines in models/*.yaml)",
                zh=f"不含指标的 metric_time（{grain.value}）查询需要时间轴表（time_spines）",
            )
        return max(usable, key=lambda s: s.grain.order)

    def _values_from_spine(self, names: list[str], conds: list[Node], start: dt.datetime | None,
                           end: dt.datetime | None, dedupe: bool = True) -> exp.Select:
        parts = [n.split("__") for n in names]
        grains = [Grain(p[1]) for p in parts if len(p) > 1 and p[1] in Grain.__members__]
        grain = min(grains, key=lambda g: g.order) if grains else Grain.day
        spine = self._spine(grain)
        col = exp.column(spine.column, table="ts")

        def value_of(name: str) -> exp.Expr:
            base, part = split_date_part(name)
            if part is not None:
                return dx.extract(col.copy(), part, self.dialect)
            g = base.split("__")[1] if "__" in base else None
            if g is None:
                return col.copy()
            if g not in Grain.__members__:
                found = self.catalog.custom_grain(g)
                if found is None or found[0].table != spine.table:
                    raise UnsupportedError(f"'{name}': custom granularity '{g}' is not defined by the time spine "
                                           f"{spine.table}")
                return exp.column(found[1].column_name, table="ts")
            return dx.trunc(col.copy(), Grain(g), self.dialect)

        select = exp.select().from_(exp.to_table(spine.table).as_("ts", copy=False), copy=False)
        # the key the model's values join on (an equality of columns: ClickHouse needs one)
        select.select(exp.alias_(exp.true(), "__on", quoted=True, copy=False), copy=False)
        group = []
        for n in names:
            v = value_of(n)
            select.select(exp.alias_(v, n, quoted=True, copy=False), copy=False)
            group.append(v)
        where = [to_sql(c, lambda n: (value_of(n), True)) for c in conds]
        window_start = _floor(start, grain) if start else None
        window_end = _shift_dt(_floor(end, grain), 1, grain) if end else None
        truncated = dx.trunc(col.copy(), grain, self.dialect)
        for bound, op in ((window_start, exp.GTE), (window_end, exp.LT)):
            if bound is not None:
                where.append(op(this=truncated.copy(), expression=dx.timestamp_literal(bound.isoformat(sep=" "))))
        if where:
            select.where(exp.and_(*where, copy=False), copy=False)
        if group and dedupe:
            select.group_by(*group, copy=False)
        return select

    def _coarsest_grain(self, names: list[str]) -> Grain:
        """The coarsest native grain among the aggregation time dimensions behind ``names`` (day if none)."""
        found = [Grain.day]
        seen: set[str] = set()
        todo = list(names)
        while todo:
            metric = self.catalog.metric(todo.pop())
            if metric.name in seen:
                continue
            seen.add(metric.name)
            if metric.measure or (metric.semantic_model and metric.agg):
                rm = self.catalog.resolve_measure(metric)
                dim = rm.model.dimension(rm.agg_time_dimension or "")
                if dim is not None:
                    found.append(dim.grain)
            todo += self.catalog.inputs(metric)
        return max(found, key=lambda g: g.order)

    def _branches(
        self,
        groups: list[list[tuple[Leaf, str]]],
        dims: list[str],
        timey: dict[str, DimRef],
        where: list[Filter],
        window: tuple[dt.datetime | None, dt.datetime | None],
        grain: Grain,
        policy: tuple[str, ...] = (),
    ) -> tuple[list[tuple[exp.Select, list[str]]], list[tuple[str, exp.Select]]]:
        """One SELECT per leaf group; groups that differ only by a time offset share one scan.

        Period-over-period and ``offset_window`` inputs read the same rows as the current
        period, shifted. When the offset is a whole number of the query's grain, the rows are
        aggregated once (a CTE over the union of the windows) and each offset is a cheap
        shifted SELECT over that aggregate, instead of a second scan of the fact table.

        Each shifted SELECT keeps its own periods by a flag (``__in_range``), not a WHERE: a
        filter on the aggregate's periods is pushed by the warehouse back into the CTE, where it
        truncates every fact row's time again (DuckDB: 1.14x a hand-written full join; with the
        flag, read by ``_merge``'s HAVING, 0.8x). Bounds the CTE's own window already implies
        are left out.
        """
        # sharing needs exactly one time column, truncated to a grain (not a date part)
        time_dim = next(iter(timey), None) if len(timey) == 1 else None
        if time_dim is not None and (timey[time_dim].date_part or timey[time_dim].custom_grain):
            time_dim = None
        scans: dict[tuple[Any, ...], list[list[tuple[Leaf, str]]]] = {}
        for items in groups:
            leaf = items[0][0]
            key = (leaf.model, leaf.time_dim, leaf.filters, leaf.cumulative, leaf.to_grain, leaf.conversion,
                   leaf.non_additive)
            scans.setdefault(key, []).append(items)
        branches: list[tuple[exp.Select, list[str]]] = []
        ctes: list[tuple[str, exp.Select]] = []
        for scan in scans.values():
            first = scan[0][0][0]
            shareable = (
                time_dim is not None
                and len(scan) > 1
                and first.cumulative is None
                and first.non_additive is None
                and all(_aligned(items[0][0].offset, grain) and items[0][0].to_grain is None for items in scan)
                # a filter on the time axis holds for the shifted periods: each offset needs its own
                and not self._filters_time(first, where)
            )
            if not shareable:
                for items in scan:
                    branches.append((self._group_sql(items, dims, where, window, grain, policy)[0],
                                     [a for _, a in items]))
                continue
            assert time_dim is not None
            aggs: dict[tuple[Any, ...], str] = {}
            for items in scan:
                for leaf, _ in items:
                    aggs.setdefault((leaf.agg, leaf.expr, leaf.percentile), f"__a{len(aggs)}")
            pseudo = [
                (Leaf(first.model, agg, expr, first.time_dim, first.filters, None, None, pct), alias)
                for (agg, expr, pct), alias in aggs.items()
            ]
            offsets = [items[0][0].offset for items in scan]
            starts = [_shift_dt(window[0], -o[0], o[1]) if o else window[0] for o in offsets]
            ends = [_shift_dt(window[1], -o[0], o[1]) if o else window[1] for o in offsets]
            wide = (None if None in starts else min(s for s in starts if s),
                    None if None in ends else max(e for e in ends if e))
            name = f"s{len(ctes)}"
            ctes.append((name, self._group_sql(pseudo, dims, where, wide, grain, policy)[0]))
            for items, lo, hi in zip(scan, starts, ends, strict=True):
                off = items[0][0].offset
                t = exp.column(time_dim, table=name, quoted=True)
                conds: list[exp.Expr] = []
                if lo is not None and lo != wide[0]:  # the CTE's window already holds its own bounds
                    conds.append(exp.GTE(this=t.copy(), expression=dx.timestamp_literal(lo.isoformat(sep=" "))))
                if hi is not None and hi != wide[1]:
                    conds.append(exp.LT(this=t.copy(), expression=dx.timestamp_literal(hi.isoformat(sep=" "))))
                in_range = exp.and_(*conds, copy=False) if conds else None
                b = exp.select(
                    *(
                        exp.alias_(dx.shift(t.copy(), off[0], off[1], self.dialect) if d == time_dim and off
                                   else exp.column(d, table=name, quoted=True), d, quoted=True, copy=False)
                        for d in dims
                    ),
                    copy=False,
                )
                for leaf, alias in items:
                    col: exp.Expr = exp.column(aggs[(leaf.agg, leaf.expr, leaf.percentile)], table=name, quoted=True)
                    if in_range is not None:  # out of range: no value, no flag (the HAVING drops its period)
                        col = exp.Case(ifs=[exp.If(this=in_range.copy(), true=col)])
                    b.select(exp.alias_(col, alias, quoted=True, copy=False), copy=False)
                if in_range is not None:
                    flag = exp.Case(ifs=[exp.If(this=in_range, true=exp.Literal.number(1))])
                    b.select(exp.alias_(flag, IN_RANGE, quoted=True, copy=False), copy=False)
                b.from_(name, copy=False)
                branches.append((b, [a for _, a in items]))
        return branches, ctes

    def _merge(self, branches: list[tuple[exp.Select, list[str]]], dims: list[str]) -> exp.Expr:
        """UNION ALL the branches (each padded with NULLs for the others' leaves), then GROUP BY keys.

        When a branch flags its rows (``__in_range``, see ``_branches``) a period is kept only if
        some branch has it in range; the others' rows are all in range (flag 1).
        """
        all_aliases = [alias for _, aliases in branches for alias in aliases]
        flagged = any(IN_RANGE in sub.named_selects for sub, _ in branches)
        selects = []
        for sub, aliases in branches:
            mine = set(aliases)
            b = exp.select(*(exp.column(d, table="g", quoted=True).as_(d, quoted=True, copy=False) for d in dims))
            for alias in all_aliases:
                # ClickHouse types a bare NULL by the other branches (a typed one has no common
                # type with an unsigned count); the others need the type on the NULL
                val: exp.Expr = (
                    exp.column(alias, table="g", quoted=True)
                    if alias in mine
                    else exp.Null() if self.dialect == "clickhouse" else exp.cast(exp.Null(), "double", copy=False)
                )
                b.select(exp.alias_(val, alias, quoted=True, copy=False), copy=False)
            if flagged:
                flag = (exp.column(IN_RANGE, table="g", quoted=True) if IN_RANGE in sub.named_selects
                        else exp.Literal.number(1))
                b.select(exp.alias_(flag, IN_RANGE, quoted=True, copy=False), copy=False)
            selects.append(b.from_(exp.paren(sub, copy=False).as_("g", copy=False), copy=False))
        union: exp.Expr = selects[0]
        for b in selects[1:]:
            union = exp.union(union, b, distinct=False, copy=False)
        merged = exp.select(*(exp.column(d, quoted=True) for d in dims), copy=False)
        for alias in all_aliases:
            merged.select(
                exp.alias_(exp.Max(this=exp.column(alias, quoted=True)), alias, quoted=True, copy=False), copy=False
            )
        merged.from_(exp.paren(union, copy=False).as_("u", copy=False), copy=False)
        if dims:
            merged.group_by(*(exp.column(d, quoted=True) for d in dims), copy=False)
        if flagged:
            kept = exp.EQ(this=exp.Max(this=exp.column(IN_RANGE, quoted=True)), expression=exp.Literal.number(1))
            merged.having(kept, copy=False)
        return exp.paren(merged, copy=False).as_("m", copy=False)


IN_RANGE = "__in_range"  # a shifted period's flag: in the query's window (1) or only read for another's (NULL)

_FINER: dict[Grain, set[Grain]] = {  # offset units that are whole multiples of a grain
    Grain.millisecond: {Grain.millisecond, Grain.second, Grain.minute, Grain.hour, Grain.day, Grain.week},
    Grain.second: {Grain.second, Grain.minute, Grain.hour, Grain.day, Grain.week},
    Grain.minute: {Grain.minute, Grain.hour, Grain.day, Grain.week},
    Grain.hour: {Grain.hour, Grain.day, Grain.week},
    Grain.day: {Grain.day, Grain.week},
    Grain.week: {Grain.week},
    Grain.month: {Grain.month, Grain.quarter, Grain.year},
    Grain.quarter: {Grain.quarter, Grain.year},
    Grain.year: {Grain.year},
}


def _is_agg_time(ref: DimRef, time_dim: str) -> bool:
    """Is ``ref`` the leaf's own time axis? ``metric_time`` or the aggregation time dimension named
    directly (``booking__ds__day`` for bookings): MetricFlow treats both alike."""
    return ref.is_metric_time or (
        not ref.path and ref.dimension is not None and ref.dimension.name == time_dim and ref.entity is None
    )


def _base_grain(tdim: Any, timey: list[DimRef], grain: Grain) -> Grain:
    """The grain of the periods a cumulative value is computed at: the finest grain asked for,
    but no coarser than the time dimension's own grain (day at most), as MetricFlow does."""
    natural = max(tdim.grain if tdim is not None else Grain.day, Grain.day, key=lambda g: g.order)
    asked = [r.grain for r in timey if r.grain is not None and r.date_part is None and r.custom_grain is None]
    return min([*asked, natural], key=lambda g: g.order)


def _calendar_offset(offset: Offset | None, timey: list[DimRef]) -> bool:
    """Does ``offset`` (months, quarters or years) shift the requested periods ambiguously? Whole
    months over month-or-coarser periods shift one-to-one; over days they do not (month ends)."""
    if offset is None or offset[1] not in (Grain.month, Grain.quarter, Grain.year) or not timey:
        return False
    return not all(r.grain is not None and r.date_part is None and r.custom_grain is None
                   and _aligned(offset, r.grain) for r in timey)


def _aligned(offset: Offset | None, grain: Grain) -> bool:
    """Does shifting a ``grain`` bucket by ``offset`` land exactly on another bucket?"""
    return offset is None or offset[1] in _FINER[grain]


def _qualify_leaves(e: exp.Expr, table: str) -> exp.Expr:
    def q(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and node.name.startswith("__l") and not node.table:
            return exp.column(node.name, table=table, quoted=True)
        return node

    return e.copy().transform(q)


def _number(value: float) -> exp.Expr:
    """A fill value as a literal: whole numbers as integers (ClickHouse has no common type for an
    unsigned count and a float, and ``COALESCE(count, 0)`` should stay a count everywhere)."""
    return exp.Literal.number(int(value) if float(value).is_integer() else value)


def _parse(text: str) -> Filter:
    return parse_filter(text)


_DELTAS: dict[Grain, Callable[[int], relativedelta]] = {
    Grain.millisecond: lambda n: relativedelta(microseconds=1000 * n),
    Grain.second: lambda n: relativedelta(seconds=n),
    Grain.minute: lambda n: relativedelta(minutes=n),
    Grain.hour: lambda n: relativedelta(hours=n),
    Grain.day: lambda n: relativedelta(days=n),
    Grain.week: lambda n: relativedelta(weeks=n),
    Grain.month: lambda n: relativedelta(months=n),
    Grain.quarter: lambda n: relativedelta(months=3 * n),
    Grain.year: lambda n: relativedelta(years=n),
}


def _shift_dt(value: dt.datetime | None, n: int, grain: Grain) -> dt.datetime | None:
    return None if value is None else value + _DELTAS[grain](n)


def _floor(value: dt.datetime, grain: Grain) -> dt.datetime:
    """The start of the period containing ``value`` (weeks start on Monday)."""
    v = value.replace(tzinfo=None)
    if grain is Grain.millisecond:
        return v.replace(microsecond=v.microsecond - v.microsecond % 1000)
    v = v.replace(microsecond=0)
    if grain is Grain.second:
        return v
    v = v.replace(second=0)
    if grain is Grain.minute:
        return v
    v = v.replace(minute=0)
    if grain is Grain.hour:
        return v
    v = v.replace(hour=0)
    if grain is Grain.day:
        return v
    if grain is Grain.week:
        return v - dt.timedelta(days=v.weekday())
    if grain is Grain.month:
        return v.replace(day=1)
    if grain is Grain.quarter:
        return v.replace(day=1, month=3 * ((v.month - 1) // 3) + 1)
    return v.replace(day=1, month=1)


def floor_to_grain(value: dt.datetime, grain: Grain) -> dt.datetime:
    return _floor(value, grain)


def shift_by(value: dt.datetime, n: int, grain: Grain) -> dt.datetime:
    out = _shift_dt(value, n, grain)
    assert out is not None
    return out


def _compare_offset(
    compare: str, time_dims: list[str], grain: Grain, start: dt.datetime | None, end: dt.datetime | None
) -> Offset:
    if compare == "last_week":
        return (1, Grain.week)
    if compare == "last_year":
        # weeks: the same ISO week last year (52 weeks back, so Monday stays Monday)
        return (52, Grain.week) if grain is Grain.week and time_dims else (1, Grain.year)
    if time_dims:
        return (1, grain)
    if start is None or end is None:
        raise QueryError(
            "previous_period without metric_time needs --start and --end",
            zh="不按时间分组时，环比需要 --start 和 --end",
        )
    return ((end - start).days, Grain.day)
