"""A small food-delivery project for the loop's judgement: hourly facts by city × platform × cuisine,
1-D monitors over ``city`` on three related metrics, and an owners.yaml whose rules name the metric,
a city and a cuisine.

Five weeks of hours (daily shape, mild noise); on the last day 南京 × 川菜 loses four in five
orders for ten hours while its visits stay — orders, gmv and conversion of 南京 drop at once,
one event whose cause is a 2-D slice no monitor watches.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

END = dt.datetime(2026, 6, 1)  # exclusive
DAYS = 35
CITIES = ("南京", "上海", "杭州")
PLATFORMS = ("app", "web")
CUISINES = ("川菜", "粤菜", "面食")
OUTAGE = (dt.datetime(2026, 5, 31, 8), dt.datetime(2026, 5, 31, 18))  # 南京 × 川菜, orders at 20 %
CAUSE = {"city": "南京", "cuisine": "川菜"}

MODELS = textwrap.dedent("""\
    semantic_models:
      - name: facts
        table: facts
        defaults: {agg_time_dimension: hour}
        dimensions:
          - {name: hour, type: time, type_params: {time_granularity: hour}}
          - {name: city, type: categorical}
          - {name: platform, type: categorical}
          - {name: cuisine, type: categorical}
        measures:
          - {name: order_count, agg: sum, expr: orders}
          - {name: order_amount, agg: sum, expr: gmv}
          - {name: visit_count, agg: sum, expr: visits}
    metrics:
      - {name: gmv, measure: order_amount, tier: north_star, label: {zh-CN: 成交额, en: GMV}}
      - {name: orders, measure: order_count, label: {zh-CN: 订单量, en: Orders}}
      - {name: visits, measure: visit_count}
      - {name: conversion, type: ratio, numerator: orders, denominator: visits, label: {zh-CN: 转化率, en: Conversion}}
      - {name: aov, type: ratio, numerator: gmv, denominator: orders}
    """)


def monitor(metric: str) -> str:
    return textwrap.dedent(f"""\
        name: {metric}_by_city
        metric: {metric}
        by: [city]
        total: false
        grain: hour
        schedule: "0 * * * *"
        delay: 0m
        detectors:
          - type: seasonal
            params: {{warning: 4, critical: 6}}
        noise:
          min_rel_deviation: 0.15
          consecutive: 2
        """)


OWNERS = textwrap.dedent("""\
    people:
      gu: {name: 顾增长, team: growth}
      nj: {name: 宁城市, team: city}
      chuan: {name: 川菜负责人, team: cuisine}
    teams:
      growth: {lead: gu}
      city: {lead: nj}
      cuisine: {lead: chuan}
    rules:
      - {slice: {cuisine: 川菜}, owner: chuan}
      - {metric: conversion, owner: gu}
      - {slice: {city: 南京}, owner: nj}
      - {metric: "*", owner: gu}
    sla:
      group_window: 6 hours
    """)


ECHO = {"city": "南京", "cuisine": "面食"}  # with ``echo``: a drop there at the same hours a week earlier


def facts(outage: bool = True, echo: bool = False) -> pd.DataFrame:
    """The warehouse table, one row per hour × city × platform × cuisine."""
    rng = np.random.default_rng(13)
    hours = pd.date_range(END - dt.timedelta(days=DAYS), END - dt.timedelta(hours=1), freq="h")
    shape = 1.0 + 0.6 * np.sin((hours.hour.to_numpy() - 7) / 24 * 2 * np.pi)
    frames = []
    for ci, city in enumerate(CITIES):
        for platform in PLATFORMS:
            for ki, cuisine in enumerate(CUISINES):
                base = (60.0 + 25 * ci) * (1.6 if platform == "app" else 1.0) * (1.0 + 0.3 * ki)
                visits = np.round(base * 8 * shape * rng.normal(1.0, 0.03, len(hours)))
                orders = np.round(visits / 8 * rng.normal(1.0, 0.03, len(hours)))
                if outage and (city, cuisine) == (CAUSE["city"], CAUSE["cuisine"]):
                    hit = (hours >= OUTAGE[0]) & (hours < OUTAGE[1])
                    orders[hit] = np.round(orders[hit] * 0.2)
                if echo and (city, cuisine) == (ECHO["city"], ECHO["cuisine"]):
                    week = dt.timedelta(days=7)
                    hit = (hours >= OUTAGE[0] - week) & (hours < OUTAGE[1] - week)
                    orders[hit] = np.round(orders[hit] * 0.3)
                gmv = np.round(orders * (40.0 + 5 * ki) * rng.normal(1.0, 0.02, len(hours)), 2)
                frames.append(pd.DataFrame({"hour": hours, "city": city, "platform": platform, "cuisine": cuisine,
                                            "orders": orders.astype("int64"), "gmv": gmv,
                                            "visits": visits.astype("int64")}))
    return pd.concat(frames, ignore_index=True)


def write_project(root: Path, *, metrics: tuple[str, ...] = ("gmv", "orders", "conversion"),
                  state_url: str | None = None, echo: bool = False) -> Path:
    """The project on disk (DuckDB warehouse, data ingested so the loop knows its freshness)."""
    import duckdb

    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "monitors").mkdir(exist_ok=True)
    state = f'state:\n  url: "{state_url}"\n' if state_url else ""
    (root / "metricloop.yaml").write_text(
        "name: judgement\ntimezone: UTC\nlocale: en\nbase_url: http://127.0.0.1:1\n"
        "warehouse:\n  type: duckdb\n  path: warehouse.duckdb\n"
        f"tables:\n  facts:\n    time_column: hour\n{state}", encoding="utf-8")
    (root / "models" / "facts.yaml").write_text(MODELS, encoding="utf-8")
    for m in metrics:
        (root / "monitors" / f"{m}.yaml").write_text(monitor(m), encoding="utf-8")
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    duckdb.connect(str(root / "warehouse.duckdb")).close()
    data = root / "facts.parquet"
    facts(echo=echo).to_parquet(data, index=False)
    from metricloop.service import MetricLoop

    ml = MetricLoop.open(root)
    try:
        ml.ingest(str(data), "facts", mode="replace")
    finally:
        ml.close()
    return root
