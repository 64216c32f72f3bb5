"""The sentences of an answer, in zh-CN and en: the interpretation a user checks
("理解为：成交额 · 大区=华东 · 2026-09-21 至 09-27 · 对比上周"), the answer itself, and one or
two next questions. Pure functions of the request, the vocabulary and the numbers."""

from __future__ import annotations

from typing import Any

from metricloop.assistant.request import AskRequest
from metricloop.assistant.vocab import Vocabulary
from metricloop.engine.filters import And, Compare, InList, parse_filter
from metricloop.errors import MetricLoopError
from metricloop.i18n import Text

INTENT_NAMES = {
    "query": Text(en="number", zh="查数"), "trend": Text(en="trend", zh="趋势"),
    "compare": Text(en="comparison", zh="对比"), "rank": Text(en="ranking", zh="排名"),
    "why": Text(en="why it moved", zh="原因分析"), "define": Text(en="definition", zh="口径"),
    "owner": Text(en="owner", zh="负责人"), "status": Text(en="open anomalies and incidents", zh="当前异常与事件"),
    "similar": Text(en="similar past cases", zh="历史相似案例"),
}
COMPARE_NAMES = {"previous_period": Text(en="vs previous period", zh="环比上一期"),
                 "last_week": Text(en="vs last week", zh="对比上周同期"),
                 "last_year": Text(en="vs last year", zh="同比去年同期")}
GRAIN_NAMES = {"hour": Text(en="by hour", zh="按小时"), "day": Text(en="by day", zh="按天"),
               "week": Text(en="by week", zh="按周"), "month": Text(en="by month", zh="按月"),
               "quarter": Text(en="by quarter", zh="按季度"), "year": Text(en="by year", zh="按年")}


def where_text(where: str | None, vocab: Vocabulary, locale: str) -> str:
    """``region = '华东' and channel != 'app'`` → ``大区=华东 · 渠道≠app``."""
    if not where:
        return ""
    try:
        root = parse_filter(where).root
    except MetricLoopError:  # shown as typed
        return where
    nodes = list(root.items) if isinstance(root, And) else [root]
    parts: list[str] = []
    for n in nodes:
        if isinstance(n, Compare):
            op = {"!=": "≠", "<>": "≠"}.get(n.op, n.op)
            parts.append(f"{vocab.dimension_label(n.dim, locale)}{op}{n.value}")
        elif isinstance(n, InList):
            vals = "/".join(str(v) for v in n.values)
            name = vocab.dimension_label(n.dim, locale)
            if locale == "en":
                parts.append(f"{name} {'not in' if n.negated else 'in'} {vals}")
            else:
                parts.append(f"{name}{'不含' if n.negated else '为'}{vals}")
        else:
            return where
    return " · ".join(parts)


def _period(req: AskRequest, locale: str) -> str:
    if not req.start or not req.end:
        return ""
    if req.start == req.end:
        return req.start.isoformat()
    end = req.end.isoformat() if req.end.year != req.start.year else req.end.strftime("%m-%d")
    return f"{req.start.isoformat()} {'至' if locale == 'zh-CN' else 'to'} {end}"


def interpretation(req: AskRequest, vocab: Vocabulary, defaulted: list[str], unknown: list[str] | None = None) -> Text:
    """What the question was taken to mean, as one line per language; words nobody understood are
    listed, so a filter the catalog does not know is never dropped silently."""
    out: dict[str, str] = {}
    for loc in ("zh-CN", "en"):
        bits = [" + ".join(vocab.metric_label(m, loc) for m in req.metrics) or INTENT_NAMES[req.intent].render(loc)]
        if req.intent not in ("query",) and req.metrics:
            bits.append(INTENT_NAMES[req.intent].render(loc))
        if req.by:
            dims = "、".join(vocab.dimension_label(d, loc) for d in req.by) if loc == "zh-CN" else \
                ", ".join(vocab.dimension_label(d, loc) for d in req.by)
            bits.append(f"按{dims}" if loc == "zh-CN" else f"by {dims}")
        w = where_text(req.where, vocab, loc)
        if w:
            bits.append(w)
        period = _period(req, loc)
        if period:
            if "time" in defaulted:
                period += "（未指定时间，默认）" if loc == "zh-CN" else " (no time given: default)"
            bits.append(period)
        if req.grain:
            bits.append(GRAIN_NAMES[req.grain].render(loc))
        if req.compare:
            bits.append(COMPARE_NAMES[req.compare].render(loc))
        if req.order and req.intent == "rank":
            desc = req.order.startswith("-")
            top = (f"前{req.limit}" if desc else f"后{req.limit}") if req.limit else \
                ("从高到低" if desc else "从低到高")
            top_en = (f"top {req.limit}" if desc else f"bottom {req.limit}") if req.limit else \
                ("highest first" if desc else "lowest first")
            bits.append(top if loc == "zh-CN" else top_en)
        prefix = "理解为：" if loc == "zh-CN" else "Understood as: "
        out[loc] = prefix + " · ".join(bits)
        if unknown:
            out[loc] += (f"（未识别：{'、'.join(unknown)}）" if loc == "zh-CN"
                         else f" (not understood: {', '.join(unknown)})")
    return Text(en=out["en"], zh=out["zh-CN"])


def fmt(value: Any, spec: str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        try:
            return format(value, spec or ",.2f")
        except (ValueError, TypeError):
            return str(value)
    return str(value)


def suggestions(req: AskRequest, vocab: Vocabulary, dims: list[str]) -> list[Text]:
    """One or two next questions that follow from this answer."""
    if not req.metrics:
        return [Text(en="What is wrong now?", zh="现在有什么异常？")]
    m = req.metrics[0]
    zh, en = vocab.metric_label(m, "zh-CN"), vocab.metric_label(m, "en")
    out: list[Text] = []
    if req.intent in ("query", "compare", "trend", "rank"):
        out.append(Text(en=f"Why did {en} change?", zh=f"{zh}为什么变化？"))
    if req.intent in ("query", "compare", "why", "trend") and not req.by:
        free = [d for d in dims if d not in (req.where or "")]
        if free:
            d = free[0]
            out.append(Text(en=f"{en} by {vocab.dimension_label(d, 'en')}",
                            zh=f"各{vocab.dimension_label(d, 'zh-CN')}的{zh}"))
    if req.intent in ("define", "owner", "status", "similar") or len(out) < 2:
        out.append(Text(en=f"{en} trend over the last 30 days", zh=f"近30天{zh}趋势"))
    return out[:2]
