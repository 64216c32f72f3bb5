"""Filters in SQL: the filter language's AST (:mod:`metricloop.filterlang`) compiled to sqlglot.

The grammar and parser live at the core level so the catalog can validate the filters of its
definitions without importing the engine; this module adds the one step that is the engine's
(columns from a resolver, values as literals only) and re-exports the grammar for its callers.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from metricloop.filterlang import (
    KEYWORDS,
    MAX_DEPTH,
    MAX_FILTER_CHARS,
    And,
    Between,
    Compare,
    Filter,
    FilterSyntaxError,
    InList,
    IsNull,
    Like,
    MetricRef,
    Node,
    Not,
    Or,
    Predicate,
    Value,
    combine,
    metric_ref,
    parse_filter,
    quote,
    slice_filter,
    walk,
)

__all__ = [
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_FILTER_CHARS",
    "And",
    "Between",
    "Compare",
    "Filter",
    "FilterSyntaxError",
    "InList",
    "IsNull",
    "Like",
    "MetricRef",
    "Node",
    "Not",
    "Or",
    "Predicate",
    "Resolver",
    "Value",
    "combine",
    "literal",
    "metric_ref",
    "parse_filter",
    "quote",
    "slice_filter",
    "to_sql",
    "walk",
]

Resolver = Callable[[str], tuple[exp.Expr, bool]]
"""Maps a dimension name to (column expression, is_time)."""


def literal(value: Value, *, is_time: bool = False) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    lit = exp.Literal.string(value)
    return exp.cast(lit, exp.DataType.build("timestamp"), copy=False) if is_time else lit


def to_sql(node: Node, resolve: Resolver) -> exp.Expr:
    """Compile the AST with ``resolve`` supplying every column: values become literals only."""
    if isinstance(node, And | Or):
        parts = [to_sql(i, resolve) for i in node.items]
        joined: exp.Expr = exp.and_(*parts) if isinstance(node, And) else exp.or_(*parts)
        return exp.paren(joined) if isinstance(node, Or) else joined
    if isinstance(node, Not):
        return exp.not_(exp.paren(to_sql(node.item, resolve)))
    col, is_time = resolve(node.dim)
    out: exp.Expr
    if isinstance(node, Compare):
        cls = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[node.op]
        return cls(this=col, expression=literal(node.value, is_time=is_time))
    if isinstance(node, InList):
        out = exp.In(this=col, expressions=[literal(v, is_time=is_time) for v in node.values])
    elif isinstance(node, IsNull):
        out = exp.Is(this=col, expression=exp.Null())
    elif isinstance(node, Between):
        out = exp.Between(this=col, low=literal(node.low, is_time=is_time), high=literal(node.high, is_time=is_time))
    else:
        out = exp.Like(this=col, expression=exp.Literal.string(node.pattern))
    return exp.not_(out) if node.negated else out
