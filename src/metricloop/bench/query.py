"""``metricloop bench query``: compiled metric queries vs hand-written DuckDB SQL, same data, same run.

A generated orders table (10M rows by default) and a traffic table live in one DuckDB
database. For each query shape the compiled query and a hand-written equivalent run
alternately ``repeats`` times; the median times give the ratio (goal ≤ 1.1×) and both results
must be equal, or the figure is void. Compile time is measured without the plan cache.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metricloop.catalog.catalog import load_catalog
from metricloop.engine.compiler import Compiler
from metricloop.engine.query import MetricQuery
from metricloop.engine.warehouse import DuckDBWarehouse

MODELS = """\
semantic_models:
  - name: orders
    table: orders
    defaults: {agg_time_dimension: order_time}
    dimensions:
      - {name: order_time, type: time, type_params: {time_granularity: hour}}
      - {name: region, type: categorical}
      - {name: channel, type: categorical}
      - {name: category, type: categorical}
    measures:
      - {name: order_amount, agg: sum, expr: amount}
      - {name: order_count, agg: count, expr: order_id}
  - name: traffic
    table: traffic
    defaults: {agg_time_dimension: hour}
    dimensions:
      - {name: hour, type: time, type_params: {time_granularity: hour}}
      - {name: region, type: categorical}
      - {name: channel, type: categorical}
    measures:
      - {name: session_count, agg: sum, expr: sessions}
metrics:
  - {name: gmv, measure: order_amount}
  - {name: orders, measure: order_count}
  - {name: sessions, measure: session_count}
  - {name: aov, type: ratio, numerator: gmv, denominator: orders}
  - {name: conversion_rate, type: ratio, numerator: orders, denominator: sessions}
"""

DATA_SQL = """
create or replace table orders as
select i as order_id,
       timestamp '2024-01-01' + to_seconds((i * 6.3)::bigint) as order_time,
       ['华东','华北','华南','华中','西南','西北','东北'][(hash(i) % 7)::int + 1] as region,
       ['app','web','mini_program','store'][(hash(i * 3) % 4)::int + 1] as channel,
       ['服饰','数码','家电','美妆','食品','母婴','家居','运动'][(hash(i * 7) % 8)::int + 1] as category,
       round(20 + (hash(i * 11) % 100000) / 100.0, 2) as amount
from range({rows}) t(i);
create or replace table traffic as
select h.hour, r.region, c.channel,
       (100 + hash(epoch(h.hour)::bigint + length(r.region) + length(c.channel)) % 400)::bigint as sessions
from (select timestamp '2024-01-01' + to_hours(i) as hour from range({hours}) t(i)) h,
     (values ('华东'),('华北'),('华南'),('华中'),('西南'),('西北'),('东北')) r(region),
     (values ('app'),('web'),('mini_program'),('store')) c(channel);
"""

# shape → (metric query, the hand-written DuckDB SQL a data engineer would write)
SHAPES: dict[str, tuple[MetricQuery, str]] = {
    "group_by": (
        MetricQuery(metrics=["gmv", "orders"], group_by=["region"], grain="month"),
        "select date_trunc('month', order_time) as m, region, sum(amount) as gmv, count(order_id) as orders "
        "from orders group by 1, 2 order by 1, 2",
    ),
    "filtered_ratio": (
        MetricQuery(metrics=["aov"], group_by=["category"], where="channel in ('app', 'web') and region = '华东'"),
        "select category, sum(amount) / count(order_id) as aov from orders "
        "where channel in ('app', 'web') and region = '华东' group by 1 order by 1",
    ),
    "cross_model_ratio": (
        MetricQuery(metrics=["conversion_rate"], group_by=["channel"], grain="week"),
        "with o as (select date_trunc('week', order_time) w, channel, count(order_id) n from orders group by 1, 2), "
        "s as (select date_trunc('week', hour) w, channel, sum(sessions) n from traffic group by 1, 2) "
        "select s.w, s.channel, o.n / s.n as conversion_rate from s left join o using (w, channel) order by 1, 2",
    ),
    "period_over_period": (
        MetricQuery(metrics=["gmv"], grain="day", compare="last_week", start="2024-03-01", end="2024-06-30"),
        # every period of the range that has this week's or last week's value (a full join)
        "with d as (select date_trunc('day', order_time) d, sum(amount) v from orders "
        "where order_time >= timestamp '2024-02-23' and order_time < timestamp '2024-07-01' group by 1), "
        "c as (select * from d where d >= timestamp '2024-03-01'), "
        "p as (select d + interval 7 day as d, v from d where d < timestamp '2024-06-24') "
        "select coalesce(c.d, p.d) as d, c.v as gmv, p.v as prev, c.v - p.v as delta, "
        "(c.v - p.v) / abs(p.v) as pct from c full join p on p.d = c.d order by 1",
    ),
}


@dataclass
class ShapeResult:
    shape: str
    compiled_ms: float
    handwritten_ms: float
    ratio: float
    compile_ms: float
    rows: int
    equal: bool

    def to_dict(self) -> dict[str, Any]:
        return vars(self)


def _rows(wh: DuckDBWarehouse, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in wh.execute(sql).to_pylist()]


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None:
                    if x is not y:
                        return False
                elif abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(y))):
                    return False
            elif x != y:
                return False
    return True


def run(rows: int = 10_000_000, repeats: int = 7, folder: Path | None = None) -> dict[str, Any]:
    """Build the data (once per folder), then time every shape; returns a JSON-ready report."""
    work = Path(folder or tempfile.mkdtemp(prefix="ml-bench-query-"))
    (work / "models").mkdir(parents=True, exist_ok=True)
    (work / "models" / "bench.yaml").write_text(MODELS, encoding="utf-8")
    wh = DuckDBWarehouse(work / f"bench_{rows}.duckdb")
    con = wh.connection
    have = con.execute("select count(*) from information_schema.tables where table_name = 'orders'").fetchone()[0]
    t0 = time.perf_counter()
    if not have or con.execute("select count(*) from orders").fetchone()[0] != rows:
        hours = int(rows * 6.3 / 3600) + 24
        con.execute(DATA_SQL.format(rows=rows, hours=hours))
    build_s = time.perf_counter() - t0
    catalog = load_catalog(work)
    results = []
    for shape, (query, handwritten) in SHAPES.items():
        compile_times = []
        for _ in range(50):
            start = time.perf_counter()
            compiled = Compiler(catalog, "duckdb").compile(query)
            compile_times.append((time.perf_counter() - start) * 1000)
        ours, theirs = [], []
        _rows(wh, compiled.sql), _rows(wh, handwritten)  # warm caches once
        for _ in range(repeats):
            start = time.perf_counter()
            got = _rows(wh, compiled.sql)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            want = _rows(wh, handwritten)
            theirs.append(time.perf_counter() - start)
        m_ours, m_theirs = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
        results.append(
            ShapeResult(
                shape,
                round(m_ours, 2),
                round(m_theirs, 2),
                round(m_ours / m_theirs, 3),
                round(statistics.median(compile_times), 3),
                len(got),
                _same(got, want),
            )
        )
    wh.close()
    return {
        "rows": rows,
        "repeats": repeats,
        "data_build_s": round(build_s, 1),
        "folder": str(work),
        "shapes": [r.to_dict() for r in results],
        "max_ratio": max(r.ratio for r in results),
        "max_compile_ms": max(r.compile_ms for r in results),
    }
