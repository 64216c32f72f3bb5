"""The bench company of ``metricloop bench loop``: a seeded food-delivery platform (外卖平台).

A second company, deliberately unlike the demo's e-commerce shop, so the loop's judgement is
measured on data its defaults were not shaped on. Hourly facts over city × platform × cuisine
(sessions, orders, GMV), with:

* an hour-of-day shape per cuisine (快餐 lunch, 火锅 dinner, 烧烤夜宵 late night, 奶茶 afternoon)
  and a weekly one (offices closed at the weekend: fewer 快餐 lunches, more of the rest);
* Chinese public holidays and make-up workdays from the shipped calendar (``cn_holidays``,
  :mod:`metricloop.detect.cn_calendar`): tier-1 cities empty out, tourist cities fill up, a
  make-up Sunday behaves like a weekday; the monitors name the calendar, as a user would;
* rainy days (more orders) and day/hour noise per city, a slow growth trend;
* merchant churn, which is not an incident: in about a third of the city × cuisine cells a chain
  joins or leaves on some day (a lasting ±12–25 % step in that cell, a few % of its city), listed
  in the truth as ``changes`` — only 2-D monitoring sees them, and an incident on one is false;
* a quiet period of three weeks with nothing injected;
* injected incidents with their ground truth: 1-D slice drops, 2-D slices (城市×品类, 城市×平台)
  under 1-D monitors, ratio incidents (conversion = orders / sessions moved through the
  numerator, the denominator or both), two overlapping incidents and an app outage that moves
  GMV, orders and conversion together. Each incident names its true slice, the metrics it
  moves, its root metric (the metric tree: gmv ← orders ← sessions × conversion) and the owner
  the responsibility table gives that root metric and slice.

``--seed`` moves every incident (day, hour, duration, magnitude) and redraws the noise; the
kinds and slices stay, so seeds 1 and 2 are the same company with a different history.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from metricloop.detect.cn_calendar import MAKEUP_WORKDAY

# ----------------------------------------------------------------------------------- company
CITIES: tuple[str, ...] = ("上海", "北京", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆")
CITY_WEIGHT = np.array([14.0, 13.0, 10.0, 11.0, 8.0, 9.0, 6.0, 7.0, 5.0, 7.0])
# how a city moves on a public holiday (people leave tier-1 cities, tourists fill others)
CITY_HOLIDAY = np.array([0.72, 0.7, 0.8, 0.75, 1.05, 1.15, 0.9, 0.95, 1.15, 1.12])
CITY_PRICE = np.array([1.15, 1.12, 1.0, 1.12, 1.05, 0.92, 1.0, 0.93, 0.9, 0.92])
PLATFORMS: tuple[str, ...] = ("app", "mini_program", "h5")
PLATFORM_SHARE = np.array([0.62, 0.28, 0.10])
PLATFORM_CONVERSION = np.array([0.22, 0.18, 0.12])
CUISINES: tuple[str, ...] = ("快餐便当", "川湘菜", "粤菜", "火锅", "奶茶饮品", "烧烤夜宵")
CUISINE_SHARE = np.array([0.30, 0.17, 0.13, 0.12, 0.17, 0.11])
CUISINE_AOV = np.array([28.0, 46.0, 55.0, 88.0, 22.0, 68.0])
CUISINE_CONVERSION = np.array([1.1, 1.0, 0.95, 0.85, 1.05, 0.95])
# local tastes: (city, cuisine) -> multiplier of the cuisine's share in that city
CITY_TASTE: dict[tuple[str, str], float] = {
    ("成都", "川湘菜"): 2.0, ("成都", "火锅"): 2.4, ("重庆", "火锅"): 2.6, ("重庆", "川湘菜"): 1.8,
    ("广州", "粤菜"): 2.4, ("深圳", "粤菜"): 1.9, ("上海", "快餐便当"): 1.3, ("北京", "快餐便当"): 1.25,
    ("武汉", "川湘菜"): 1.5, ("西安", "烧烤夜宵"): 1.6, ("杭州", "奶茶饮品"): 1.3,
}
# sessions by hour of day (0..23), weekday, per cuisine
_HOURLY = {
    "快餐便当": [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 2.2, 2.0, 4.5, 9.5, 10.0, 5.0, 1.8,
                1.5, 1.8, 3.5, 5.5, 4.8, 2.8, 1.6, 0.9, 0.5],
    "川湘菜": [0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.6, 0.9, 3.0, 7.5, 8.0, 3.5, 1.2,
               1.0, 1.5, 4.5, 8.0, 7.5, 4.0, 2.0, 1.2, 0.7],
    "粤菜": [0.5, 0.3, 0.2, 0.1, 0.1, 0.3, 1.2, 2.8, 3.0, 2.0, 3.0, 6.5, 7.0, 3.5, 1.8,
             2.0, 2.2, 4.0, 7.0, 6.5, 3.5, 2.0, 1.5, 0.9],
    "火锅": [0.8, 0.4, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.5, 1.2, 3.5, 4.5, 2.5, 1.2,
             1.0, 1.8, 5.5, 9.5, 10.0, 7.0, 4.0, 2.5, 1.5],
    "奶茶饮品": [0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.2, 0.8, 1.5, 2.2, 3.2, 4.5, 5.0, 6.0, 7.0,
               7.5, 7.0, 5.5, 4.5, 5.0, 5.0, 4.0, 2.5, 1.2],
    "烧烤夜宵": [6.0, 4.5, 2.5, 1.2, 0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 1.2, 0.6, 0.4,
               0.4, 0.6, 1.5, 3.5, 5.5, 7.5, 9.5, 10.0, 8.5],
}
HOURLY_PROFILE = np.array([np.array(_HOURLY[c]) / sum(_HOURLY[c]) for c in CUISINES])  # (cuisine, 24)
# weekend (or holiday) multipliers per cuisine: offices closed -> fewer 快餐 lunches, more of the rest
WEEKEND = np.array([0.7, 1.12, 1.15, 1.25, 1.2, 1.25])
ORDERS_PER_DAY = 300_000.0  # mean orders a day over the whole platform
GROWTH_PER_MONTH = 0.008
RAIN_PROBABILITY = 0.08  # a city's rainy day: +12 % sessions all day
WARMUP_WEEKS = 10  # history before the judged period: the seasonal baselines' 8 weeks and margin
QUIET_DAYS = 21
FIRST_DAY = dt.date(2025, 2, 17)  # a Monday after the 春节 season; the judged period holds 劳动节, 端午, 国庆/中秋
METRICS = ("gmv", "orders", "sessions", "conversion_rate")
TREE_ORDER = ("gmv", "orders", "conversion_rate", "sessions")  # root of the metric tree first

# ---------------------------------------------------------------------------- owners (rules)
PEOPLE: dict[str, tuple[str, str, str]] = {  # id -> name, team, title
    "zhang.wei": ("张伟", "trade", "交易负责人"),
    "li.min": ("李敏", "growth", "增长负责人"),
    "wu.hao": ("吴昊", "app", "App 负责人"),
    "xu.qing": ("徐晴", "mini", "小程序负责人"),
    "fang.yu": ("方宇", "web", "H5 负责人"),
    "gao.lan": ("高岚", "east", "华东城市经理"),
    "qian.feng": ("钱峰", "north", "华北西北城市经理"),
    "deng.li": ("邓丽", "south", "华南城市经理"),
    "luo.jun": ("罗军", "west", "西南华中城市经理"),
    "shen.yue": ("沈悦", "merchant", "正餐品类运营"),
    "tan.xin": ("谭欣", "merchant", "休闲品类运营"),
}
CITY_OWNER = {"上海": "gao.lan", "杭州": "gao.lan", "南京": "gao.lan", "北京": "qian.feng", "西安": "qian.feng",
              "广州": "deng.li", "深圳": "deng.li", "成都": "luo.jun", "重庆": "luo.jun", "武汉": "luo.jun"}
CUISINE_OWNER = {"快餐便当": "shen.yue", "川湘菜": "shen.yue", "粤菜": "shen.yue", "火锅": "shen.yue",
                 "奶茶饮品": "tan.xin", "烧烤夜宵": "tan.xin"}
PLATFORM_OWNER = {"app": "wu.hao", "mini_program": "xu.qing", "h5": "fang.yu"}
# first match wins, as in owners.yaml: platform teams, then city managers, then category ops,
# then the metric's owner
RULES: list[tuple[str | None, dict[str, str], str]] = [
    *[(None, {"platform": p}, o) for p, o in PLATFORM_OWNER.items()],
    *[(None, {"city": c}, o) for c, o in CITY_OWNER.items()],
    *[(None, {"cuisine": c}, o) for c, o in CUISINE_OWNER.items()],
    ("conversion_rate", {}, "li.min"),
    ("sessions", {}, "li.min"),
    ("*", {}, "zhang.wei"),
]


def owner_for(metric: str, slice_: Mapping[str, str]) -> str:
    """The responsibility table's owner of ``metric`` on ``slice_`` (first matching rule)."""
    for pattern, where, owner in RULES:
        if pattern is not None and not fnmatch.fnmatchcase(metric, pattern):
            continue
        if all(slice_.get(k) == v for k, v in where.items()):
            return owner
    raise AssertionError("the last rule matches everything")


# ------------------------------------------------------------------------------- incidents
@dataclass(frozen=True)
class IncidentKind:
    """What goes wrong, where, and the ranges the seed draws from."""

    id: str
    kind: str
    slice: dict[str, str]
    hours: tuple[int, int]  # duration range (inclusive)
    start_hours: tuple[int, int]  # start hour of day range (inclusive)
    sessions: tuple[float, float] = (1.0, 1.0)  # multiplier ranges
    conversion: tuple[float, float] = (1.0, 1.0)
    aov: tuple[float, float] = (1.0, 1.0)
    keep_orders: bool = False  # conversion = 1 / sessions: the extra sessions never order
    tags: tuple[str, ...] = ()
    description: str = ""


KINDS: tuple[IncidentKind, ...] = (
    IncidentKind("wuhan_riders", "city_drop", {"city": "武汉"}, (6, 10), (10, 13), conversion=(0.4, 0.55),
                 tags=("1d",), description="武汉暴雨，骑手不足，订单大量取消"),
    IncidentKind("mini_entry", "platform_drop", {"platform": "mini_program"}, (4, 8), (10, 17),
                 sessions=(0.3, 0.45), tags=("1d",), description="小程序入口被下线，访问骤降"),
    IncidentKind("tea_merchants", "cuisine_drop", {"cuisine": "奶茶饮品"}, (6, 9), (12, 15),
                 conversion=(0.4, 0.55), tags=("1d",), description="奶茶商家批量打烊（系统误判缺料）"),
    IncidentKind("chengdu_hotpot", "slice_2d", {"city": "成都", "cuisine": "火锅"}, (8, 12), (15, 17),
                 conversion=(0.15, 0.3), tags=("2d",), description="成都火锅商家菜单同步失败，无法下单"),
    IncidentKind("shanghai_lunch", "slice_2d", {"city": "上海", "cuisine": "快餐便当"}, (5, 8), (9, 10),
                 sessions=(0.25, 0.4), tags=("2d",), description="上海快餐频道推荐位空白"),
    IncidentKind("guangzhou_price", "slice_2d", {"city": "广州", "cuisine": "粤菜"}, (8, 12), (10, 12),
                 aov=(0.45, 0.6), tags=("2d", "gmv_only"), description="广州粤菜满减券配置错误，客单价腰斩"),
    IncidentKind("nanjing_app", "slice_2d", {"city": "南京", "platform": "app"}, (9, 11), (10, 12),
                 conversion=(0.3, 0.45), tags=("2d",), description="南京 App 下单接口故障（灰度发布）"),
    IncidentKind("app_checkout", "ratio_numerator", {"platform": "app"}, (8, 12), (10, 13),
                 conversion=(0.65, 0.75), tags=("ratio",), description="App 新版本结算页 bug，转化率下降"),
    IncidentKind("h5_bots", "ratio_denominator", {"platform": "h5"}, (6, 10), (9, 14),
                 sessions=(2.2, 3.0), keep_orders=True, tags=("ratio",), description="H5 爬虫流量，会话暴涨而订单不变"),
    IncidentKind("shenzhen_campaign", "ratio_both", {"city": "深圳"}, (6, 10), (10, 13),
                 sessions=(1.5, 1.7), conversion=(0.45, 0.55), tags=("ratio",),
                 description="深圳拉新活动落地页故障：会话上升，转化率下降"),
    IncidentKind("bbq_night", "overlap", {"cuisine": "烧烤夜宵"}, (6, 8), (18, 19), conversion=(0.35, 0.5),
                 tags=("overlap", "1d"), description="夜宵时段烧烤商家配送范围被误缩小"),
    IncidentKind("beijing_night", "overlap", {"city": "北京"}, (5, 7), (19, 21), sessions=(0.4, 0.55),
                 tags=("overlap", "1d"), description="北京定位服务故障，首页无商家"),
    IncidentKind("app_outage", "outage", {"platform": "app"}, (3, 5), (11, 18), conversion=(0.08, 0.2),
                 tags=("outage", "tree"), description="App 下单服务宕机：GMV、订单、转化率一起下跌"),
)
SMALL_KINDS = ("mini_entry", "chengdu_hotpot", "app_checkout", "app_outage")


@dataclass
class Truth:
    """One injected incident: where, when (local time, ``end`` exclusive), what it moves, whose it is."""

    id: str
    kind: str
    slice: dict[str, str]
    start: dt.datetime
    end: dt.datetime
    multipliers: dict[str, float]
    metrics: list[str]
    root_metric: str
    owner: str
    tags: list[str]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {**vars(self), "start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Truth:
        return cls(**{**d, "start": dt.datetime.fromisoformat(d["start"]),
                      "end": dt.datetime.fromisoformat(d["end"])})


def moved_metrics(m: Mapping[str, float]) -> list[str]:
    """The monitored metrics a multiplier set moves (the metric tree's arithmetic)."""
    s, c, a = m.get("sessions", 1.0), m.get("conversion", 1.0), m.get("aov", 1.0)
    out = []
    if abs(s * c * a - 1) > 0.01:
        out.append("gmv")
    if abs(s * c - 1) > 0.01:
        out.append("orders")
    if abs(c - 1) > 0.01:
        out.append("conversion_rate")
    if abs(s - 1) > 0.01:
        out.append("sessions")
    return out


@dataclass(frozen=True)
class Change:
    """A benign lasting step in one city × cuisine cell (a chain joins or leaves): not an incident."""

    city: str
    cuisine: str
    day: dt.date
    factor: float

    def to_dict(self) -> dict[str, Any]:
        return {"slice": {"city": self.city, "cuisine": self.cuisine}, "day": self.day.isoformat(),
                "factor": self.factor}


CHURN_PROBABILITY = 0.3
CHURN_SIZE = (0.12, 0.25)


def _churn(rng: np.random.Generator, first: dt.date, n_days: int, truths: Sequence[Truth]) -> list[Change]:
    """Chains joining or leaving, away (two days) from every injected incident."""
    near = {t.start.date() + dt.timedelta(days=k) for t in truths for k in range(-2, 3)}
    out = []
    for city in CITIES:
        for cuisine in CUISINES:
            hit, when, size, up = rng.random(), int(rng.integers(14, n_days)), rng.uniform(*CHURN_SIZE), rng.random()
            day = first + dt.timedelta(days=when)
            if hit < CHURN_PROBABILITY and day not in near:
                out.append(Change(city, cuisine, day, round(1 + size if up < 0.5 else 1 - size, 3)))
    return out


@dataclass
class Company:
    """The generated facts, the judged period and the ground truth."""

    table: pa.Table
    first_day: dt.date
    judged_from: dt.datetime
    end: dt.datetime  # exclusive
    quiet: tuple[dt.datetime, dt.datetime]
    incidents: list[Truth]
    holidays: dict[dt.date, str]
    seed: int
    months: float
    rows: int = 0
    changes: list[Change] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        return {
            "company": "饭点外卖 (bench loop)",
            "seed": self.seed,
            "months": self.months,
            "first_day": self.first_day.isoformat(),
            "judged_from": self.judged_from.isoformat(),
            "end": self.end.isoformat(),
            "quiet": [self.quiet[0].isoformat(), self.quiet[1].isoformat()],
            "timezone": "Asia/Shanghai",
            "incidents": [t.to_dict() for t in self.incidents],
            "changes": [c.to_dict() for c in self.changes],
        }


def _holidays(first: dt.date, last: dt.date) -> dict[dt.date, str]:
    from metricloop.detect.calendars import named_days

    return named_days(["cn_holidays"], [], first, last)


def _place(kinds: Sequence[IncidentKind], rng: np.random.Generator, judged_from: dt.datetime,
           end: dt.datetime, quiet: tuple[dt.datetime, dt.datetime], holidays: Mapping[dt.date, str],
           ) -> list[Truth]:
    """Day, hour, duration and magnitude of each incident; apart from each other, holidays and the
    quiet period, except the two ``overlap`` incidents, which share an evening."""
    days = (end.date() - judged_from.date()).days
    taken: list[dt.date] = []

    def free(day: dt.date, spacing: int) -> bool:
        if any(day + dt.timedelta(days=k) in holidays for k in (-1, 0, 1)):
            return False
        if quiet[0].date() - dt.timedelta(days=1) <= day <= quiet[1].date():
            return False
        return all(abs((day - t).days) >= spacing for t in taken) and day + dt.timedelta(days=1) < end.date()

    out: list[Truth] = []
    overlap_day: dt.date | None = None
    overlap_start: dt.datetime | None = None
    for k in kinds:
        if k.kind == "overlap" and overlap_day is not None:
            day = overlap_day
        else:
            # three days apart when there is room; closer (never the same day) in a short history
            candidates = [judged_from.date() + dt.timedelta(days=i) for i in range(1, max(days - 1, 2))]
            ok: list[dt.date] = []
            for spacing in (3, 2, 1):
                ok = [d for d in candidates if free(d, spacing)]
                if ok:
                    break
            day = ok[int(rng.integers(len(ok)))] if ok else candidates[int(rng.integers(len(candidates)))]
            taken.append(day)
            if k.kind == "overlap":
                overlap_day = day
        hour = int(rng.integers(k.start_hours[0], k.start_hours[1] + 1))
        start = dt.datetime.combine(day, dt.time(hour))
        if k.kind == "overlap" and overlap_start is not None:  # starts 1-3 hours into the first one
            start = overlap_start + dt.timedelta(hours=int(rng.integers(1, 4)))
        elif k.kind == "overlap":
            overlap_start = start
        hours = int(rng.integers(k.hours[0], k.hours[1] + 1))
        mult = {
            "sessions": round(float(rng.uniform(*k.sessions)), 3),
            "conversion": round(float(rng.uniform(*k.conversion)), 3),
            "aov": round(float(rng.uniform(*k.aov)), 3),
        }
        if k.keep_orders:
            mult["conversion"] = round(1.0 / mult["sessions"], 4)
        mult = {n: v for n, v in mult.items() if v != 1.0}
        metrics = moved_metrics(mult)
        root = next(m for m in TREE_ORDER if m in metrics)
        out.append(Truth(id=k.id, kind=k.kind, slice=dict(k.slice), start=start,
                         end=start + dt.timedelta(hours=hours), multipliers=mult, metrics=metrics,
                         root_metric=root, owner=owner_for(root, k.slice), tags=list(k.tags),
                         description=k.description))
    return sorted(out, key=lambda t: t.start)


def generate(seed: int = 1, months: float = 6.0, *, small: bool = False) -> Company:
    """The company's facts and ground truth (pure: arrays in, a pyarrow table out)."""
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng([seed, 7])
    first = FIRST_DAY
    judged_from = dt.datetime.combine(first + dt.timedelta(weeks=WARMUP_WEEKS), dt.time(0))
    end = judged_from + dt.timedelta(days=round(months * 30.44))
    n_days = (end.date() - first).days
    days = [first + dt.timedelta(days=i) for i in range(n_days)]
    holidays = _holidays(first, days[-1])
    judged_days = (end - judged_from).days
    quiet_start = judged_from + dt.timedelta(days=min(28, judged_days // 3))
    quiet = (quiet_start, quiet_start + dt.timedelta(days=min(QUIET_DAYS, judged_days // 5)))
    kinds = [k for k in KINDS if not small or k.id in SMALL_KINDS]
    truths = _place(kinds, rng, judged_from, end, quiet, holidays)
    changes = _churn(np.random.default_rng([seed, 11]), first, n_days, truths)

    n_c, n_p, n_k = len(CITIES), len(PLATFORMS), len(CUISINES)
    taste = np.ones((n_c, n_k))
    for (c, k), v in CITY_TASTE.items():
        taste[CITIES.index(c), CUISINES.index(k)] = v
    mix = CUISINE_SHARE * taste
    mix = mix / mix.sum(axis=1, keepdims=True)  # (city, cuisine)
    city_w = CITY_WEIGHT / CITY_WEIGHT.sum()
    conv = PLATFORM_CONVERSION[None, :, None] * CUISINE_CONVERSION[None, None, :]  # (1, p, k)
    mean_conv = float((PLATFORM_SHARE[:, None] * CUISINE_SHARE[None, :] * conv[0]).sum())
    sessions_per_day = ORDERS_PER_DAY / mean_conv
    price = CITY_PRICE[:, None, None] * CUISINE_AOV[None, None, :]  # (c, 1, k)

    hours_total = n_days * 24
    # per-day factors
    day_kind = np.zeros(n_days)  # 0 weekday, 1 weekend, 2 holiday
    day_city = np.ones((n_days, n_c))
    for i, d in enumerate(days):
        name = holidays.get(d)
        if name == MAKEUP_WORKDAY:
            day_kind[i] = 0  # a make-up workday (调休上班) behaves like a weekday
        elif name is not None:
            day_kind[i] = 2
            day_city[i] = CITY_HOLIDAY * (0.6 if name == "春节" else 1.0)
        else:
            day_kind[i] = 1.0 if d.weekday() >= 5 else 0.0
        trend = 1 + GROWTH_PER_MONTH * i / 30.44
        rain = np.where(noise.random(n_c) < RAIN_PROBABILITY, 1.12, 1.0)
        day_city[i] = day_city[i] * trend * rain * np.exp(noise.normal(0, 0.035, n_c))
    # heavy-tailed hour noise per city (a shower, a football match): Student t with 4 degrees of freedom
    hour_city = np.exp(np.clip(0.025 * noise.standard_t(4, (hours_total, n_c)), -0.5, 0.5))
    day_platform_conv = np.exp(noise.normal(0, 0.015, (n_days, n_p)))
    # merchants come and go: each city's cuisine moves a little each day and hour beyond counting noise
    day_cell = np.exp(noise.normal(0, 0.05, (n_days, n_c, n_k)))
    for ch in changes:
        day_cell[(ch.day - first).days:, CITIES.index(ch.city), CUISINES.index(ch.cuisine)] *= ch.factor
    hour_cell = np.exp(np.clip(0.03 * noise.standard_t(4, (hours_total, n_c, n_k)), -0.5, 0.5))

    cells = n_c * n_p * n_k
    # expected sessions per (hour, c, p, k)
    lam = np.empty((hours_total, n_c, n_p, n_k))
    for i in range(n_days):
        off = day_kind[i] > 0
        shape = HOURLY_PROFILE * (WEEKEND[:, None] if off else 1.0)  # (k, 24)
        day_level = sessions_per_day * day_city[i]  # (c,)
        block = (day_level[:, None, None, None] * city_w[:, None, None, None]
                 * PLATFORM_SHARE[None, :, None, None] * mix[:, None, :, None] * shape[None, None, :, :])
        lam[i * 24:(i + 1) * 24] = (np.moveaxis(block, 3, 0) * hour_city[i * 24:(i + 1) * 24, :, None, None]
                                    * day_cell[i][None, :, None, :] * hour_cell[i * 24:(i + 1) * 24, :, None, :])
    p = np.broadcast_to(conv, (hours_total, n_c, n_p, n_k)).copy()
    p *= np.repeat(day_platform_conv, 24, axis=0)[:, None, :, None]
    aov = np.broadcast_to(price, (hours_total, n_c, n_p, n_k)).copy()

    hour0 = dt.datetime.combine(first, dt.time(0))
    dims = {"city": CITIES, "platform": PLATFORMS, "cuisine": CUISINES}
    axis = {"city": 1, "platform": 2, "cuisine": 3}
    for t in truths:
        h0 = int((t.start - hour0).total_seconds() // 3600)
        h1 = int((t.end - hour0).total_seconds() // 3600)
        idx: list[Any] = [slice(h0, h1), slice(None), slice(None), slice(None)]
        for dim, value in t.slice.items():
            idx[axis[dim]] = dims[dim].index(value)
        sel = tuple(idx)
        lam[sel] *= t.multipliers.get("sessions", 1.0)
        p[sel] = np.clip(p[sel] * t.multipliers.get("conversion", 1.0), 0.0, 1.0)
        aov[sel] *= t.multipliers.get("aov", 1.0)

    sessions = noise.poisson(lam)
    orders = noise.binomial(sessions, p)
    shape_k = 4.0  # one order's value: gamma with a 50 % coefficient of variation
    gmv = np.where(orders > 0, noise.gamma(np.maximum(orders, 1) * shape_k, 1.0 / shape_k) * aov, 0.0)

    hours = np.array([hour0 + dt.timedelta(hours=h) for h in range(hours_total)], dtype="datetime64[us]")
    grid = np.indices((hours_total, n_c, n_p, n_k)).reshape(4, -1)
    keep = sessions.reshape(-1) > 0
    table = pa.table({
        "hour": pa.array(hours[grid[0][keep]], type=pa.timestamp("us")),
        "city": pa.DictionaryArray.from_arrays(pa.array(grid[1][keep].astype(np.int32)),
                                               pa.array(list(CITIES))).cast(pa.string()),
        "platform": pa.DictionaryArray.from_arrays(pa.array(grid[2][keep].astype(np.int32)),
                                                   pa.array(list(PLATFORMS))).cast(pa.string()),
        "cuisine": pa.DictionaryArray.from_arrays(pa.array(grid[3][keep].astype(np.int32)),
                                                  pa.array(list(CUISINES))).cast(pa.string()),
        "sessions": pa.array(sessions.reshape(-1)[keep].astype(np.int64)),
        "orders": pa.array(orders.reshape(-1)[keep].astype(np.int64)),
        "gmv": pa.array(np.round(gmv.reshape(-1)[keep], 2)),
    })
    return Company(table=table, first_day=first, judged_from=judged_from, end=end, quiet=quiet, changes=changes,
                   incidents=truths, holidays=holidays, seed=seed, months=months, rows=table.num_rows,
                   extra={"cells": cells})



# ------------------------------------------------------------------------------ project files
PROJECT_YAML = """\
# 饭点外卖 · the bench company of `metricloop bench loop` (generated, seeded)
name: fandian
timezone: Asia/Shanghai
locale: zh-CN
warehouse:
  type: duckdb
  path: warehouse.duckdb
tables:
  delivery_hourly:
    time_column: hour
"""

MODELS_YAML = """\
semantic_models:
  - name: delivery_hourly
    label: {zh-CN: 外卖小时汇总, en: Delivery hourly facts}
    table: delivery_hourly
    defaults: {agg_time_dimension: hour}
    dimensions:
      - {name: hour, type: time, type_params: {time_granularity: hour}}
      - {name: city, type: categorical, label: {zh-CN: 城市, en: City}}
      - {name: platform, type: categorical, label: {zh-CN: 平台, en: Platform}}
      - {name: cuisine, type: categorical, label: {zh-CN: 品类, en: Cuisine}}
    measures:
      - {name: session_count, agg: sum, expr: sessions}
      - {name: order_count, agg: sum, expr: orders}
      - {name: order_amount, agg: sum, expr: gmv}

metrics:
  - name: gmv
    label: {zh-CN: 成交额, en: GMV}
    business_definition: {zh-CN: 已完成外卖订单的金额之和, en: Amount of completed delivery orders}
    measure: order_amount
    unit: currency:CNY
    format: ",.0f"
    polarity: higher_is_better
    tier: north_star
    owners: {business: [zhang.wei]}
    drivers:
      - {metric: orders, relation: multiplicative}
      - {metric: aov, relation: multiplicative}
  - name: orders
    label: {zh-CN: 订单数, en: Orders}
    measure: order_count
    unit: count
    format: ",.0f"
    polarity: higher_is_better
    tier: primary
    owners: {business: [zhang.wei]}
    drivers:
      - {metric: sessions, relation: multiplicative}
      - {metric: conversion_rate, relation: multiplicative}
  - name: sessions
    label: {zh-CN: 访问会话数, en: Sessions}
    measure: session_count
    unit: count
    format: ",.0f"
    polarity: higher_is_better
    tier: primary
    owners: {business: [li.min]}
  - name: conversion_rate
    type: ratio
    label: {zh-CN: 下单转化率, en: Conversion rate}
    business_definition: {zh-CN: 订单数 ÷ 访问会话数, en: Orders divided by sessions}
    numerator: orders
    denominator: sessions
    unit: percent
    format: ".1%"
    polarity: higher_is_better
    tier: primary
    owners: {business: [li.min]}
  - name: aov
    type: ratio
    label: {zh-CN: 客单价, en: Average order value}
    numerator: gmv
    denominator: orders
    unit: currency:CNY
    format: ",.2f"
    tier: secondary
    owners: {business: [zhang.wei]}
"""

_NOISE = """\
    detectors:
      - {type: seasonal, params: {warning: 4, critical: 6}}
    noise: {min_rel_deviation: 0.15, consecutive: 2, merge_gap: 2, cooldown: 6, calendars: [cn_holidays]}
"""

MONITORS_YAML = """\
# Written by hand, as a new user would: the north star per city, orders per platform and per
# cuisine, traffic and conversion per platform, conversion per city. Hourly, same hour of the
# week as the baseline, public holidays (cn_holidays) muted and kept out of baselines.
monitors:
  - name: gmv_by_city
    metric: gmv
    by: [city]
    grain: hour
    schedule: "5 * * * *"
{noise}
  - name: orders_by_platform
    metric: orders
    by: [platform]
    grain: hour
    schedule: "5 * * * *"
{noise}
  - name: orders_by_cuisine
    metric: orders
    by: [cuisine]
    total: false
    grain: hour
    schedule: "5 * * * *"
{noise}
  - name: sessions_by_platform
    metric: sessions
    by: [platform]
    direction: both
    grain: hour
    schedule: "5 * * * *"
{noise}
  - name: conversion_by_platform
    metric: conversion_rate
    by: [platform]
    grain: hour
    schedule: "5 * * * *"
{noise}
  - name: conversion_by_city
    metric: conversion_rate
    by: [city]
    total: false
    grain: hour
    schedule: "5 * * * *"
{noise}""".format(noise=_NOISE.rstrip("\\n"))

CHANNELS_YAML = """\
channels:
  - name: ops-webhook
    type: webhook
    url: ${BENCH_LOOP_WEBHOOK_URL}
"""


def owners_yaml() -> str:
    """owners.yaml from :data:`RULES` (the same table the ground truth's owners come from)."""
    teams = sorted({team for _, team, _ in PEOPLE.values()})
    lines = ["# 责任表 · who owns which metric and slice (first matching rule wins)", "people:"]
    lines += [f"  {pid}: {{name: {name}, email: {pid}@fandian.example, team: {team}, "
              f"title: {{zh-CN: {title}, en: {title}}}}}" for pid, (name, team, title) in PEOPLE.items()]
    lead = {team: next(p for p, (_, t, _) in PEOPLE.items() if t == team) for team in teams}
    lines.append("teams:")
    lines += [f"  {team}: {{name: {{zh-CN: {team}, en: {team}}}, lead: {lead[team]}, manager: zhang.wei}}"
              for team in teams]
    lines.append("rules:")
    for metric, where, owner in RULES:
        parts = []
        if metric is not None:
            parts.append(f'metric: "{metric}"')
        if where:
            parts.append("slice: {" + ", ".join(f"{k}: {v}" for k, v in where.items()) + "}")
        parts.append(f"owner: {owner}")
        lines.append("  - {" + ", ".join(parts) + "}")
    lines += ["escalation:", "  - {after: 30 minutes, to: owner}", "  - {after: 2 hours, to: team_lead}",
              "sla:", "  group_window: 6 hours", "channels: [ops-webhook]", ""]
    return "\n".join(lines)


def write_project(company: Company, folder: Path, *, monitors: str | None = None) -> dict[str, Path]:
    """The project files, the facts as Parquet and ``data/ground_truth.json``; returns name -> path.

    ``monitors``: the text of another monitors file to judge instead of the hand-written one
    (2-D monitors, ``explore:``): the company and its truth stay the same."""
    import json

    import pyarrow.parquet as pq

    folder = Path(folder)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "monitors").mkdir(exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    files = {
        "metricloop.yaml": PROJECT_YAML,
        "models/delivery.yaml": MODELS_YAML,
        "monitors/delivery.yaml": MONITORS_YAML if monitors is None else monitors,
        "owners.yaml": owners_yaml(),
        "channels.yaml": CHANNELS_YAML,
    }
    out: dict[str, Path] = {}
    for rel, text in files.items():
        (folder / rel).write_text(text, encoding="utf-8")
        out[rel] = folder / rel
    pq.write_table(company.table, folder / "data" / "delivery_hourly.parquet", compression="zstd")
    out["data"] = folder / "data" / "delivery_hourly.parquet"
    truth = folder / "data" / "ground_truth.json"
    truth.write_text(json.dumps(company.truth(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out["ground_truth"] = truth
    return out
