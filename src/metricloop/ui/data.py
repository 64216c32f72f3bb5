"""What the pages show, computed from the facade as the signed-in user (no NiceGUI here).

Every number goes through ``ml.access.query(principal, ...)``: the same path as
``POST /api/v1/query``, so the UI obeys metric permissions and row policies exactly like the API.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metricloop.access.policy import Principal, enforce, readable
from metricloop.catalog.display import format_value as format_value  # the pages import it from here
from metricloop.catalog.models import Grain, Metric, Polarity, Tier
from metricloop.engine.query import MetricQuery
from metricloop.errors import MetricLoopError
from metricloop.localtime import offset, table_time, wall_clock

if TYPE_CHECKING:
    from metricloop.service import MetricLoop

TIERS = (Tier.north_star, Tier.primary, Tier.secondary)
DAY = "metric_time__day"


def num(value: Any) -> float | None:
    """A warehouse number as a float (DECIMAL sums come back as Decimal); None for NULL/NaN."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def change_tone(metric: Metric, pct: float | None) -> str:
    """good | bad | neutral, from the metric's polarity (a drop in refunds is good)."""
    if pct is None or abs(pct) < 0.005 or metric.polarity is Polarity.neutral:
        return "neutral"
    up = pct > 0
    return "good" if up == (metric.polarity is Polarity.higher_is_better) else "bad"


def axis_formatter(metric: Metric) -> str:
    """ECharts axis labels in the metric's format (JavaScript, for ``":formatter"``): %, 万."""
    if metric.unit == "percent" or (metric.format or "").endswith("%"):
        return "v => (v * 100).toFixed(1) + '%'"
    return "v => Math.abs(v) >= 10000 ? (v / 10000).toFixed(1) + '万' : v.toLocaleString()"


def value_formatter(metric: Metric) -> str:
    """ECharts values in the metric's format (JavaScript): %, ¥, thousands separators."""
    if metric.unit == "percent" or (metric.format or "").endswith("%"):
        return "v => v == null ? '–' : (v * 100).toFixed(2) + '%'"
    prefix = "¥" if (metric.unit or "").startswith("currency:CNY") else ""
    digits = 0 if (metric.format or "").endswith(".0f") else 2
    return (f"v => v == null ? '–' : '{prefix}' + v.toLocaleString('zh-CN', "
            f"{{minimumFractionDigits: {digits}, maximumFractionDigits: {digits}}})")


@dataclass
class Card:
    metric: str
    label: str
    tier: str
    value: str
    raw: float | None = None
    change_pct: float | None = None
    tone: str = "neutral"
    day: str | None = None
    note: str | None = None  # why there is no value (scope, error)
    spark: list[float | None] = field(default_factory=list)  # the last 28 days, oldest first


@dataclass
class StatusBoard:
    day: dt.date | None
    tiers: dict[str, list[Card]] = field(default_factory=dict)


def queryable(ml: MetricLoop, principal: Principal, name: str) -> bool:
    """Can ``principal`` query this metric at all (permission and row-policy dimensions)?"""
    try:
        enforce(ml.catalog, principal, MetricQuery(metrics=[name]))
    except MetricLoopError:
        return False
    return True


def latest_day(ml: MetricLoop, principal: Principal, metric: str) -> dt.date | None:
    """The newest complete day with data (yesterday at the latest, in the project timezone)."""
    yesterday = (dt.datetime.now(ml.project.tz) - dt.timedelta(days=1)).date()
    q = MetricQuery(metrics=[metric], grain=Grain.day, end=dt.datetime.combine(yesterday, dt.time()),
                    order_by=[f"-{DAY}"], limit=1)
    rows = ml.access.query(principal, q).rows()
    value = rows[0][DAY] if rows else None
    return value.date() if isinstance(value, dt.datetime) else value


def status_board(ml: MetricLoop, principal: Principal, locale: str) -> StatusBoard:
    """Cards for the north-star, primary and secondary metrics: the latest day vs a week before."""
    metrics = [m for m in ml.metrics() if m.tier in TIERS and readable(ml.catalog, principal, m.name)]
    usable = [m for m in metrics if queryable(ml, principal, m.name)]
    board = StatusBoard(day=latest_day(ml, principal, usable[0].name) if usable else None)
    for m in metrics:
        board.tiers.setdefault(m.tier.value, []).append(
            Card(m.name, m.display_label(locale), m.tier.value, "–", note=None if m in usable else "scope"))
    if board.day is None:
        return board
    day = dt.datetime.combine(board.day, dt.time())
    for tier in TIERS:
        names = [m.name for m in usable if m.tier is tier]
        values: dict[str, dict[str, Any]] = {}
        for name in names:  # one query per metric: a failure stays on its card
            try:
                rows = ml.access.query(principal, MetricQuery(metrics=[name], grain=Grain.day, start=day, end=day,
                                                              compare="last_week")).rows()
                values[name] = rows[0] if rows else {}
            except MetricLoopError as exc:
                values[name] = {"__error": exc.localized(locale)}
        for card in board.tiers.get(tier.value, []):
            row = values.get(card.metric)
            if row is None:
                continue
            metric = ml.catalog.metric(card.metric)
            raw = row.get(card.metric)
            pct = row.get(f"{card.metric}__pct")
            card.raw = num(raw)
            card.value = format_value(metric, card.raw)
            card.change_pct = num(pct)
            card.tone = change_tone(metric, card.change_pct)
            card.day = board.day.isoformat()
            card.note = row.get("__error")
            if not card.note:
                try:
                    card.spark = daily_values(ml, principal, card.metric, board.day)
                except MetricLoopError:
                    card.spark = []
    return board


@dataclass
class Trend:
    days: list[str]
    values: list[float | None]


def trend(ml: MetricLoop, principal: Principal, metric: str, days: int = 90) -> Trend:
    """The metric per day over the last ``days`` days that have data."""
    last = latest_day(ml, principal, metric)
    if last is None:
        return Trend([], [])
    start = dt.datetime.combine(last - dt.timedelta(days=days - 1), dt.time())
    q = MetricQuery(metrics=[metric], grain=Grain.day, start=start, end=dt.datetime.combine(last, dt.time()))
    rows = ml.access.query(principal, q).rows()
    return Trend([r[DAY].date().isoformat() for r in rows], [num(r[metric]) for r in rows])


@dataclass
class DrillRow:
    member: str
    value: float | None
    previous: float | None
    delta: float | None
    pct: float | None
    share: float | None


def drill_down(ml: MetricLoop, principal: Principal, metric: str, day: dt.date, dimension: str) -> list[DrillRow]:
    """One day of the metric split by ``dimension``, with the change from the previous day;
    biggest absolute change first (what moved the number)."""
    when = dt.datetime.combine(day, dt.time())
    q = MetricQuery(metrics=[metric], group_by=[dimension], grain=Grain.day, start=when, end=when,
                    compare="previous_period")
    rows = ml.access.query(principal, q).rows()
    total = sum(num(r[metric]) or 0.0 for r in rows)
    additive = ml.catalog.additivity(ml.catalog.metric(metric)).value == "additive"
    out = [DrillRow(str(r[dimension]), num(r[metric]), num(r.get(f"{metric}__prev")), num(r.get(f"{metric}__delta")),
                    num(r.get(f"{metric}__pct")),
                    (num(r[metric]) or 0.0) / total if additive and total else None) for r in rows]
    return sorted(out, key=lambda r: -abs(r.delta or 0.0))


def drill_dimensions(ml: MetricLoop, metric: str) -> list[str]:
    """Dimensions worth offering for a drill-down (categorical, no entity paths)."""
    detail = ml.metric_detail(metric)
    dims: list[str] = detail["dimensions"]
    models = ml.catalog.semantic_models.values()
    time_dims = {d.name for m in models for d in m.dimensions if d.type == "time"}
    entities = {e.name for m in models for e in m.entities}  # join keys, not something to slice by
    preferred = ["region", "channel", "category", "province"]
    plain = [d for d in dims if d not in time_dims and d not in entities and not d.startswith("metric_time")]
    return sorted(plain, key=lambda d: (preferred.index(d) if d in preferred else len(preferred), d))


def dimension_label(ml: MetricLoop, name: str, locale: str) -> str:
    for model in ml.catalog.semantic_models.values():
        d = model.dimension(name)
        if d is not None and d.label is not None:
            return d.label.get(locale) or name
    return name


def calculation_text(ml: MetricLoop, metric: Metric, locale: str) -> str:
    """The calculation in words a business reader follows: 成交额 ÷ 订单数, sum(amount) of orders ..."""
    def lbl(name: str) -> str:
        m = ml.catalog.metrics.get(name)
        return m.display_label(locale) if m else name

    t = metric.type.value
    if t == "ratio" and metric.numerator and metric.denominator:
        text = f"{lbl(metric.numerator.name)} ÷ {lbl(metric.denominator.name)}"
    elif t == "derived" and metric.expr:
        text = metric.expr
        for ref in metric.input_metrics:
            text = text.replace(ref.ref, lbl(ref.name) + (f" ({ref.offset_window} ago)" if ref.offset_window else ""))
    elif t == "cumulative":
        base = lbl(metric.input_metric.name) if metric.input_metric else (metric.measure or "")
        span = metric.window or (f"{metric.grain_to_date.value}-to-date" if metric.grain_to_date else "all time")
        text = f"{base}, cumulative over {span}" if not locale.startswith("zh") else f"{base}，累计（{span}）"
    else:
        try:
            rm = ml.catalog.resolve_measure(metric)
            text = f"{rm.agg.value}({rm.expr}) · {rm.model.name}"
        except MetricLoopError:
            text = metric.type.value
    if metric.filter:
        text += f"  [{metric.filter}]"
    return text


# ---------------------------------------------------------------------------------- the loop's records
SEVERITY_COLOR = {"critical": "red-8", "high": "deep-orange-7", "medium": "amber-8", "warning": "amber-8",
                  "low": "blue-grey-6", "info": "blue-grey-5"}
VERDICT_COLOR = {"recovered": "green-8", "partially_recovered": "amber-9", "not_recovered": "red-7",
                 "insufficient_data": "grey-7"}
STATUS_COLOR = {"triggered": "red-7", "acknowledged": "orange-8", "investigating": "amber-9", "mitigated": "teal-7",
                "verifying": "indigo-6", "closed": "green-8", "false_positive": "grey-7", "duplicate": "grey-6"}


def local_time(ml: MetricLoop, t: dt.datetime | str | None, with_date: bool = True) -> str:
    """A time as people read it, by the one timezone rule (:mod:`metricloop.localtime`): the
    project's wall clock with its offset, ``2026-09-27 08:10 +08:00``, to the minute. A stored
    moment (aware) moves to the project's timezone; a naive time is already its wall clock."""
    if t is None:
        return "–"
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    t = wall_clock(t, ml.project.tz).replace(second=0, microsecond=0)
    return table_time(t) if with_date else f"{t:%H:%M} {offset(t)}"


def duration_text(minutes: float | None, locale: str) -> str:
    """26 → "26 分钟" / "26 min"; 1597 → "26.6 小时"; three days and more in days."""
    if minutes is None:
        return "–"
    zh = locale == "zh-CN"
    if minutes < 120:
        return f"{minutes:.0f} {'分钟' if zh else 'min'}"
    hours = minutes / 60
    if hours < 72:
        return f"{hours:.1f} {'小时' if zh else 'h'}"
    return f"{hours / 24:.1f} {'天' if zh else 'days'}"


def share_text(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def metric_value(ml: MetricLoop, metric: str, value: Any) -> str:
    """``value`` in the metric's own format (¥, %, thousands separators)."""
    try:
        m = ml.catalog.metrics.get(metric)
    except MetricLoopError:
        m = None
    return format_value(m, num(value))


def slice_text(slice_: dict[str, Any] | None, ml: MetricLoop | None = None, locale: str = "zh-CN") -> str:
    """``{region: 华东, channel: app}`` → "地区=华东 · 渠道=app" (dimension labels when known)."""
    if not slice_:
        return ""
    parts = []
    for k, v in slice_.items():
        label = dimension_label(ml, k, locale) if ml is not None else k
        parts.append(f"{label}={v}")
    return " · ".join(parts)


def record_title(ml: MetricLoop, metric: str, slice_: dict[str, Any] | None, locale: str) -> str:
    """退款率 · 品类=家居: the metric's name and the slice in the reader's words."""
    sl = slice_text(slice_, ml, locale)
    label = ml.workflow.metric_label(metric, locale)
    return f"{label} · {sl}" if sl else label


def people_options(ml: MetricLoop, locale: str) -> dict[str, str]:
    """The people of owners.yaml an incident can be handed to: id → "王芳 · 交易组" (by name,
    with the team, so two people of the same name stay apart)."""
    from metricloop.i18n import pick

    owners = ml.workflow.owners
    out = {}
    for pid, p in sorted(owners.people.items(), key=lambda kv: (kv[1].team or "", kv[1].name)):
        team = owners.teams.get(p.team) if p.team else None
        out[pid] = f"{p.name} · {pick(team.name, locale, p.team or '')}" if team else p.name
    return out


def duplicate_candidates(ml: MetricLoop, principal: Principal, incident: dict[str, Any], locale: str,
                         limit: int = 100) -> dict[str, str]:
    """Incidents this one may duplicate: the others the user can see that are not duplicates
    themselves; same metric first, then newest. ``INC-7`` → "INC-7 · 退款率 · 品类=家居 · 排查中"."""
    from metricloop.views.scope import sees
    from metricloop.workflow.lifecycle import STATE_LABELS

    rows = [i for i in ml.workflow.list_incidents(limit=500) if i["id"] != incident["id"]
            and i["status"] != "duplicate" and sees(ml, principal, i["metric"], i["slice"])]
    rows.sort(key=lambda i: (i["metric"] != incident["metric"], -i["triggered_at"].timestamp()))
    return {i["id"]: f"{i['id']} · {record_title(ml, i['metric'], i['slice'], locale)} · "
                     f"{STATE_LABELS[i['status']].render(locale)}" for i in rows[:limit]}


# ---------------------------------------------------------------------------------- pictures
SPARK_DAYS = 28
TONE_COLOR = {"good": "#15803d", "bad": "#b91c1c", "neutral": "#4b5563"}


def sparkline_svg(values: list[float | None], *, width: int = 224, height: int = 36, color: str = "#4b5563",
                  shade: tuple[int, int] | None = None, testid: str = "sparkline") -> str:
    """A small inline SVG line of ``values`` (gaps for None); ``shade`` marks index range [a, b]."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    n = max(len(values) - 1, 1)
    if not pts:
        return f'<svg data-testid="{testid}" width="{width}" height="{height}"></svg>'
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = (hi - lo) or abs(hi) or 1.0
    pad = 3

    def xy(i: int, v: float) -> str:
        x = pad + (width - 2 * pad) * i / n
        y = height - pad - (height - 2 * pad) * (v - lo) / span
        return f"{x:.1f},{y:.1f}"

    rect = ""
    if shade is not None:
        a, b = shade
        x0 = pad + (width - 2 * pad) * max(a - 0.5, 0) / n
        x1 = pad + (width - 2 * pad) * min(b + 0.5, n) / n
        rect = (f'<rect data-testid="{testid}-window" x="{x0:.1f}" y="0" width="{max(x1 - x0, 2):.1f}" '
                f'height="{height}" fill="#fecaca" opacity="0.7"/>')
    last_x, last_y = xy(*pts[-1]).split(",")
    return (f'<svg data-testid="{testid}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img">{rect}<polyline fill="none" stroke="{color}" stroke-width="1.6" '
            f'points="{" ".join(xy(i, v) for i, v in pts)}"/>'
            f'<circle cx="{last_x}" cy="{last_y}" r="2.2" fill="{color}"/></svg>')


def daily_values(ml: MetricLoop, principal: Principal, metric: str, last: dt.date,
                 days: int = SPARK_DAYS) -> list[float | None]:
    """The metric per day over the ``days`` days up to ``last`` (None where a day has no data)."""
    start = dt.datetime.combine(last - dt.timedelta(days=days - 1), dt.time())
    rows = ml.access.query(principal, MetricQuery(metrics=[metric], grain=Grain.day, start=start,
                                                  end=dt.datetime.combine(last, dt.time()))).rows()
    by_day = {r[DAY].date(): num(r[metric]) for r in rows}
    return [by_day.get(last - dt.timedelta(days=days - 1 - i)) for i in range(days)]


@dataclass
class Window:
    """An anomaly's surroundings: the slice's values around it and where the abnormal periods are."""

    values: list[float | None]
    shade: tuple[int, int] | None


def anomaly_window(ml: MetricLoop, principal: Principal, metric: str, slice_: dict[str, Any], grain: str,
                   start: dt.datetime, end: dt.datetime, context: int = 24) -> Window:
    """The metric on the anomaly's slice from ``context`` periods before its start to a few after its end."""
    from metricloop.detect.series import shift_period
    from metricloop.engine.filters import slice_filter

    g = Grain(grain) if grain in Grain.__members__ else Grain.hour
    tz = ml.project.tz
    s, e = ((t.astimezone(tz).replace(tzinfo=None) if t.tzinfo else t) for t in (start, end))
    first, last = shift_period(s, g, -context), shift_period(e, g, max(3, context // 4))
    rows = ml.access.query(principal, MetricQuery(metrics=[metric], grain=g, where=slice_filter(slice_),
                                                  start=first, end=last)).rows()
    key = f"metric_time__{g.value}"
    got = {r[key]: num(r[metric]) for r in rows}
    axis: list[dt.datetime] = []
    t = first
    while t <= last and len(axis) < 2000:
        axis.append(t)
        t = shift_period(t, g, 1)
    inside = [i for i, p in enumerate(axis) if s <= p <= e]
    return Window([got.get(p) for p in axis], (inside[0], inside[-1]) if inside else None)


def one_language(text: str | None, locale: str) -> str:
    """A case text written in both languages ("中文 / English", or paragraphs of each) in ``locale`` only.

    Parts are told apart by their script: a part with Chinese characters is Chinese. Text in one
    language, or whose parts cannot be told apart, is returned as written.
    """
    if not text:
        return ""
    import re

    han = re.compile(r"[\u4e00-\u9fff]")
    for sep in ("\n\n", "\n", " / ", " · "):
        parts = [p.strip() for p in text.split(sep) if p.strip()]
        if len(parts) < 2:
            continue
        zh = [p for p in parts if han.search(p)]
        en = [p for p in parts if not han.search(p)]
        if zh and en:
            keep = zh if locale.lower().startswith("zh") else en
            return sep.join(keep)
    return text
