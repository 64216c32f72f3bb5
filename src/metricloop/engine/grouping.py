"""Several groupings of one metric query, computed by the warehouse in one statement.

Explain's drill-down asks one metric per value of each dimension (and the total): for a metric
that does not add up over slices (a distinct count, a filtered rate) the coarse groups cannot be
summed from finer ones, so each must be aggregated from the facts. One statement computes them
all, and the rows that leave the warehouse are the groups' values (Σ values + 1), not the facts
and not the combinations of the dimensions:

- ``GROUPING SETS`` where the dialect has them (DuckDB, PostgreSQL, ClickHouse, Spark): the
  compiled query grouped by every dimension, its ``GROUP BY`` replaced by the sets and a
  ``GROUPING(column)`` flag per dimension telling the sets' rows apart (a real NULL value is not
  a rolled-up one); one scan of the facts;
- ``UNION ALL`` of the query compiled once per set otherwise (MariaDB has only ``WITH ROLLUP``,
  which gives prefixes, not one set per dimension), and for queries whose shape the rewrite does
  not cover (several aggregation branches, a time spine, window functions).

Both give the same rows; :func:`run_sets` returns one table per set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot.expressions as exp

from metricloop.engine import dialects as dx
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.errors import QueryError

if TYPE_CHECKING:
    import pyarrow as pa

SET_COLUMN = "__set"
FLAG_PREFIX = "__grouping_"


@dataclass(frozen=True)
class SetsSQL:
    """One statement answering ``sets``: columns ``__set`` (index into ``sets``; UNION ALL) or a
    ``__grouping_<i>`` flag per dimension (GROUPING SETS), the dimensions, the metrics."""

    sql: str
    sets: tuple[tuple[str, ...], ...]
    dims: tuple[str, ...]
    metrics: tuple[str, ...]
    native: bool


def _plain(query: MetricQuery, group_by: Sequence[str]) -> MetricQuery:
    return query.model_copy(update={"group_by": list(group_by), "order_by": [], "limit": None, "compare": None})


def _unordered(tree: exp.Expr) -> exp.Expr:
    tree = tree.copy()
    tree.set("order", None)
    return tree


def _native(compiler: Compiler, query: MetricQuery, sets: Sequence[tuple[str, ...]], dims: list[str],
            policy_filters: tuple[str, ...]) -> SetsSQL | None:
    """The GROUPING SETS rewrite, or None when the compiled query is not one aggregation over the
    facts read by a plain outer SELECT."""
    compiled = compiler.compile(_plain(query, dims), policy_filters=policy_filters)
    tree = _unordered(compiled.ast)
    groups = list(tree.find_all(exp.Group))
    if (len(groups) != 1 or tree.find(exp.Window) is not None or tree.args.get("joins")
            or not isinstance(tree, exp.Select)):
        return None
    inner = groups[0].parent
    if not isinstance(inner, exp.Select) or inner is tree:
        return None
    by_alias = {p.alias: p.this for p in inner.expressions if isinstance(p, exp.Alias)}
    if any(d not in by_alias for d in dims):
        return None
    keys = {k.sql() for k in groups[0].expressions}
    if keys != {by_alias[d].sql() for d in dims}:  # grouped by more than the dimensions (a spine, an entity)
        return None
    source = tree.args["from_"].this if tree.args.get("from_") else None
    table = source.alias if isinstance(source, exp.Subquery | exp.Alias) else None
    if not table:
        return None
    tuples = [exp.Tuple(expressions=[by_alias[d].copy() for d in s]) for s in sets]
    inner.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=tuples)]))
    for i, d in enumerate(dims):
        inner.select(exp.alias_(exp.func("GROUPING", by_alias[d].copy()), f"{FLAG_PREFIX}{i}", quoted=True),
                     copy=False)
        tree.select(exp.alias_(exp.column(f"{FLAG_PREFIX}{i}", table=table, quoted=True), f"{FLAG_PREFIX}{i}",
                               quoted=True), copy=False)
    return SetsSQL(dx.render(tree, compiler.dialect), tuple(sets), tuple(dims), tuple(query.metrics), True)


def _union(compiler: Compiler, query: MetricQuery, sets: Sequence[tuple[str, ...]], dims: list[str],
           policy_filters: tuple[str, ...]) -> SetsSQL:
    branches = []
    for k, s in enumerate(sets):
        compiled = compiler.compile(_plain(query, s), policy_filters=policy_filters)
        sub = exp.paren(_unordered(compiled.ast), copy=False).as_(f"s{k}", copy=False)
        select = exp.select(exp.alias_(exp.Literal.number(k), SET_COLUMN, quoted=True)).from_(sub, copy=False)
        for d in dims:
            value = exp.column(d, table=f"s{k}", quoted=True) if d in s else exp.null()
            select.select(exp.alias_(value, d, quoted=True), copy=False)
        for m in query.metrics:
            select.select(exp.alias_(exp.column(m, table=f"s{k}", quoted=True), m, quoted=True), copy=False)
        branches.append(select)
    tree: exp.Expr = branches[0]
    for b in branches[1:]:
        tree = exp.union(tree, b, distinct=False, copy=False)
    return SetsSQL(dx.render(tree, compiler.dialect), tuple(sets), tuple(dims), tuple(query.metrics), False)


def compile_sets(compiler: Compiler, query: MetricQuery, sets: Sequence[Sequence[str]], *,
                 policy_filters: tuple[str, ...] = (), native: bool | None = None) -> SetsSQL:
    """One statement for ``query`` grouped by each of ``sets`` (``()`` is the total).

    ``native`` forces (True) or avoids (False) GROUPING SETS; by default they are used where the
    dialect has them and the query's shape allows the rewrite.
    """
    if not query.metrics:
        raise QueryError("grouping sets need at least one metric", zh="分组集至少需要一个指标")
    tuples = [tuple(s) for s in sets]
    if not tuples:
        raise QueryError("give at least one grouping set", zh="至少需要一个分组集")
    dims: list[str] = []
    for s in tuples:
        dims += [d for d in s if d not in dims]
    if native is not False and dx.capabilities(compiler.dialect).grouping_sets and dims:
        found = _native(compiler, query, tuples, dims, policy_filters)
        if found is not None:
            return found
        if native:
            raise QueryError("this query's shape does not allow a GROUPING SETS rewrite")
    return _union(compiler, query, tuples, dims, policy_filters)


def split_sets(stmt: SetsSQL, table: pa.Table) -> list[pa.Table]:
    """The statement's rows as one table per set: that set's dimensions and the metrics."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    for k, s in enumerate(stmt.sets):
        if stmt.native:
            mask = pa.scalar(True)
            for i, d in enumerate(stmt.dims):
                flag = pc.cast(table.column(f"{FLAG_PREFIX}{i}"), pa.int64())
                mask = pc.and_(mask, pc.equal(flag, 0 if d in s else 1))
        else:
            mask = pc.equal(pc.cast(table.column(SET_COLUMN), pa.int64()), k)
        picked = table.filter(mask) if table.num_rows else table
        out.append(picked.select([*s, *stmt.metrics]))
    return out


def run_sets(compiler: Compiler, execute: Callable[[str], pa.Table], query: MetricQuery,
             sets: Sequence[Sequence[str]], *, policy_filters: tuple[str, ...] = (),
             native: bool | None = None) -> list[pa.Table]:
    """:func:`compile_sets` run with ``execute``, split per set."""
    stmt = compile_sets(compiler, query, sets, policy_filters=policy_filters, native=native)
    return split_sets(stmt, execute(stmt.sql))
