"""What each SQL dialect can do, and the few constructs sqlglot does not translate for us.

sqlglot transpiles most SQL faithfully but emits unsupported functions silently. This table
makes MetricLoop fail loudly instead: the compiler asks :func:`require` before it uses a
capability, and a query that needs a missing one gets an UnsupportedError naming the dialect.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from metricloop.catalog.models import Grain
from metricloop.errors import UnsupportedError


@dataclass(frozen=True)
class Capabilities:
    """Feature flags per dialect (the sqlglot dialect name is the key)."""

    name: str
    sqlglot: str
    date_trunc: bool = True  # native DATE_TRUNC(unit, ts)
    percentile: bool = True  # exact PERCENTILE_CONT / quantile
    median: bool = True
    grouping_sets: bool = True
    full_outer_join: bool = True
    window_range_interval: bool = True
    null_safe_eq: bool = True
    count_distinct: bool = True


DIALECTS: dict[str, Capabilities] = {
    "duckdb": Capabilities("duckdb", "duckdb"),
    "postgres": Capabilities("postgres", "postgres"),
    "mysql": Capabilities(
        "mysql",
        "mysql",
        date_trunc=False,
        percentile=False,
        median=False,
        grouping_sets=False,
        full_outer_join=False,
        window_range_interval=False,
    ),
    # ClickHouse (a server or chdb in-process): everything, with exact quantile functions and a
    # DateTime64 time type (sqlglot's default DateTime would drop sub-second grains)
    "clickhouse": Capabilities("clickhouse", "clickhouse"),
    # Spark SQL (local mode, a cluster through Spark Connect): everything, exact PERCENTILE
    "spark": Capabilities("spark", "spark"),
}
ALIASES = {"postgresql": "postgres", "mariadb": "mysql", "pg": "postgres", "chdb": "clickhouse",
           "sparksql": "spark"}


def capabilities(dialect: str) -> Capabilities:
    name = ALIASES.get(dialect, dialect)
    if name not in DIALECTS:
        raise UnsupportedError(f"dialect '{dialect}' is not supported (supported: {', '.join(DIALECTS)})")
    return DIALECTS[name]


def require(dialect: str, feature: str, what: str) -> None:
    """Raise UnsupportedError when ``dialect`` lacks ``feature`` (a Capabilities flag)."""
    caps = capabilities(dialect)
    if not getattr(caps, feature):
        raise UnsupportedError(
            f"{what} is not supported on {caps.name} (missing capability: {feature})",
            zh=f"{caps.name} 不支持 {what}（缺少能力：{feature}）",
        )


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def trunc(value: exp.Expr, grain: Grain, dialect: str) -> exp.Expr:
    """Truncate a timestamp to the start of its period (weeks start on Monday)."""
    caps = capabilities(dialect)
    if caps.date_trunc:
        return exp.cast(exp.TimestampTrunc(this=value, unit=exp.var(grain.value.upper())), "timestamp", copy=False)
    # MySQL / MariaDB: no DATE_TRUNC; build the period start from its parts.
    if grain is Grain.millisecond:
        raise UnsupportedError(f"millisecond granularity is not supported on {caps.name}")
    fmt = {
        Grain.second: "%Y-%m-%d %H:%i:%s",
        Grain.minute: "%Y-%m-%d %H:%i:00",
        Grain.hour: "%Y-%m-%d %H:00:00",
        Grain.day: "%Y-%m-%d 00:00:00",
        Grain.month: "%Y-%m-01 00:00:00",
        Grain.year: "%Y-01-01 00:00:00",
    }
    if grain in fmt:
        return exp.cast(_fn("DATE_FORMAT", value, exp.Literal.string(fmt[grain])), "datetime", copy=False)
    day = exp.cast(_fn("DATE", value), "datetime", copy=False)
    if grain is Grain.week:
        return exp.Sub(this=day, expression=exp.Interval(this=_fn("WEEKDAY", value), unit=exp.var("DAY")))
    # quarter: first day of the year plus (quarter - 1) quarters
    year_start = exp.cast(_fn("DATE_FORMAT", value, exp.Literal.string("%Y-01-01 00:00:00")), "datetime", copy=False)
    months = exp.Mul(
        this=exp.paren(exp.Sub(this=_fn("QUARTER", value), expression=exp.Literal.number(1))),
        expression=exp.Literal.number(3),
    )
    return exp.Add(this=year_start, expression=exp.Interval(this=months, unit=exp.var("MONTH")))


def shift(value: exp.Expr, amount: int, grain: Grain, dialect: str) -> exp.Expr:
    """``value + amount grain`` (negative amounts subtract); quarters become 3 months."""
    n, unit = (amount * 3, "MONTH") if grain is Grain.quarter else (amount, grain.value.upper())
    if n == 0:
        return value
    interval = exp.Interval(this=exp.Literal.string(str(abs(n))), unit=exp.var(unit))
    return exp.Add(this=value, expression=interval) if n > 0 else exp.Sub(this=value, expression=interval)


def extract(value: exp.Expr, part: str, dialect: str) -> exp.Expr:
    """A date part as a number: year, quarter, month, week (ISO), day, dow (ISO: Monday = 1), doy."""
    name = capabilities(dialect).name
    if name == "clickhouse":
        fn = {"year": "toYear", "quarter": "toQuarter", "month": "toMonth", "week": "toISOWeek", "day": "toDayOfMonth",
              "dow": "toDayOfWeek", "doy": "toDayOfYear"}[part]
        return _fn(fn, value)
    if name == "spark":
        unit = {"dow": "DAYOFWEEK_ISO", "doy": "DOY"}.get(part, part.upper())
        return exp.Extract(this=exp.var(unit), expression=value)
    if name == "mysql":
        special = {"dow": lambda: exp.Add(this=_fn("WEEKDAY", value), expression=exp.Literal.number(1)),
                   "doy": lambda: _fn("DAYOFYEAR", value),
                   "week": lambda: _fn("WEEK", value, exp.Literal.number(3))}
        if part in special:
            return special[part]()
        return exp.Extract(this=exp.var(part.upper()), expression=value)
    unit = {"dow": "ISODOW", "doy": "DOY"}.get(part, part.upper())
    return exp.Extract(this=exp.var(unit), expression=value)


def percentile(
    value: exp.Expr, p: float, dialect: str, *, discrete: bool = False, approximate: bool = False
) -> exp.Expr:
    """Exact PERCENTILE_CONT/DISC; ``approximate`` uses DuckDB's APPROX_QUANTILE (exact elsewhere)."""
    name = capabilities(dialect).name
    if approximate and not discrete and name == "duckdb":
        return _fn("APPROX_QUANTILE", value, exp.Literal.number(float(p)))
    require(dialect, "percentile", "an exact percentile")
    if name == "clickhouse":
        if not discrete:  # linear interpolation between the closest ranks: PERCENTILE_CONT
            return exp.ParameterizedAgg(this="quantileExactInclusive", expressions=[exp.Literal.number(float(p))],
                                        params=[value])
        # PERCENTILE_DISC: the sorted non-NULL values' ceil(p * n)-th (at least the first)
        rank = _fn("greatest", exp.Literal.number(1), _fn("ceil", _fn("round", exp.Mul(
            this=exp.Literal.number(float(p)), expression=exp.Count(this=value.copy())), exp.Literal.number(9))))
        return _fn("arrayElement", _fn("arraySort", _fn("groupArray", value)), _fn("toUInt64", rank))
    if name == "spark":  # exact functions: sqlglot would write PERCENTILE_APPROX for both
        if not discrete:
            return _fn("PERCENTILE", value, exp.Literal.number(float(p)))
        return exp.WithinGroup(this=_fn("PERCENTILE_DISC", exp.Literal.number(float(p))),
                               expression=exp.Order(expressions=[exp.Ordered(this=value, nulls_first=False)]))
    fn = "PERCENTILE_DISC" if discrete else "PERCENTILE_CONT"
    tree = sqlglot.parse_one(f"{fn}({float(p)!r}) WITHIN GROUP (ORDER BY __v__)", read="postgres")
    return tree.transform(lambda n: value.copy() if isinstance(n, exp.Column) and n.name == "__v__" else n)


def timestamp_literal(text: str) -> exp.Expr:
    return exp.cast(exp.Literal.string(text), "timestamp", copy=False)


_CH_TIMESTAMP = "Nullable(DateTime64(6))"


def render(tree: exp.Expr, dialect: str) -> str:
    """The SQL text of ``tree`` for ``dialect``, after the rewrites sqlglot would get wrong silently:
    on ClickHouse a timestamp is DateTime64(6) (microseconds), not DateTime (seconds)."""
    caps = capabilities(dialect)
    if caps.name == "clickhouse":
        ts = exp.DataType.build(_CH_TIMESTAMP, dialect="clickhouse")

        def fix(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.TIMESTAMP,
                                                                 exp.DataType.Type.DATETIME):
                node.set("to", ts.copy())
            return node

        tree = tree.copy().transform(fix, copy=False)
    return tree.sql(dialect=caps.sqlglot)
