"""The assistant's use case: a question → an answer, through the facade and as the asking user.

``ml.assistant.ask(question, principal=user)`` understands the question offline (optionally with
an OpenAI-compatible model for what the parser cannot resolve), validates the structured
request against the catalog, and answers it with the product's own services: metric queries
through the compiler (the user's metric permissions and row policies apply there), explanations,
the catalog, the open incidents and the case library (filtered by what the user may see).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metricloop.access.context import acting_as
from metricloop.assistant import charts, texts
from metricloop.assistant.llm import LLMClient, LLMConfig
from metricloop.assistant.parser import Parser, Understanding
from metricloop.assistant.request import AskRequest, validate
from metricloop.assistant.vocab import Vocabulary, build
from metricloop.engine.filters import Compare as Eq
from metricloop.engine.filters import InList, parse_filter
from metricloop.engine.query import MetricQuery
from metricloop.errors import MetricLoopError, NotFoundError, QueryError
from metricloop.i18n import Text

if TYPE_CHECKING:
    from metricloop.access.policy import Principal
    from metricloop.access.service import AccessService
    from metricloop.context import Context
    from metricloop.detect.service import DetectionService
    from metricloop.explain.service import ExplainService
    from metricloop.review.service import ReviewService
    from metricloop.workflow.service import WorkflowService

log = logging.getLogger("metricloop.assistant")
#: what answering each intent reads, beyond metric queries (doors check it before answering)
INTENT_ACTIONS: dict[str, str] = {"why": "explain", "status": "incident.read", "similar": "incident.read",
                                  "define": "catalog.read", "owner": "catalog.read"}
MAX_VALUES = 500  # dimensions with more distinct values (ids, free text) are not indexed
VALUES_TTL = 600.0  # seconds a value index is reused


@dataclass
class Answer:
    """What every door shows: the JSON contract of ``metricloop ask --format json``."""

    intent: str
    request: AskRequest | None
    text: Text
    interpretation_text: Text
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)
    clarify: list[dict[str, Any]] = field(default_factory=list)
    sql: str | None = None
    suggestions: list[Text] = field(default_factory=list)
    source: str = "offline"
    columns: list[str] = field(default_factory=list)
    millis: float = 0.0
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"metrics": [], "by": [], "where": None, "start": None, "end": None, "grain": None,
                 "compare": None, "order": None, "limit": None}
        return {
            "intent": self.intent,
            "interpretation": self.request.interpretation() if self.request else empty,
            "text": {"zh-CN": f"{self.interpretation_text.zh}\n{self.text.zh}".strip(),
                     "en": f"{self.interpretation_text.en}\n{self.text.en}".strip()},
            "rows": self.rows,
            "chart": self.chart,
            "clarify": self.clarify,
            "sql": self.sql,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "source": self.source,
            "unknown": self.unknown,
        }


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "__float__") and not isinstance(value, int | float | bool):
        return float(value)
    return value


class AssistantService:
    """Questions about one project (``ml.assistant``).

    Takes the shared :class:`~metricloop.context.Context` (catalog, query, freshness) and the
    stage services it answers with, each named: anomalies, explanations, incidents, the case
    library, and access (audit, the user's queries)."""

    def __init__(self, ctx: Context, *, detection: DetectionService, explain: ExplainService,
                 workflow: WorkflowService, review: ReviewService, access: AccessService,
                 llm: LLMClient | None = None) -> None:
        self.ctx = ctx
        self.detection = detection
        self.explain = explain
        self.workflow = workflow
        self.review = review
        self.access = access
        self._lock = threading.Lock()
        self._cache: tuple[int, float, Vocabulary, Parser] | None = None
        self.llm = llm if llm is not None else (LLMClient(cfg) if (cfg := LLMConfig.from_env()) else None)

    # ------------------------------------------------------------------ vocabulary
    def values_index(self) -> dict[str, list[str]]:
        """Distinct values of every categorical dimension (as no user: the index only names values;
        the answers' rows are always queried as the asking user)."""
        catalog = self.ctx.catalog
        dims: list[str] = []
        for model in catalog.semantic_models.values():
            dims += [d.name for d in model.dimensions if d.type == "categorical" and d.name not in dims]
        out: dict[str, list[str]] = {}
        with acting_as(None):
            for d in dims:
                try:
                    rows = self.ctx.query(MetricQuery(group_by=[d], limit=MAX_VALUES + 1)).rows()
                except MetricLoopError as exc:
                    log.warning("dimension %s not indexed: %s", d, exc)
                    continue
                vals = [r[d] for r in rows if isinstance(r.get(d), str) and r[d].strip()]
                if len(rows) <= MAX_VALUES:
                    out[d] = vals
        return out

    def parser(self) -> tuple[Vocabulary, Parser]:
        """The vocabulary and parser of the current catalog (rebuilt after a reload or the TTL)."""
        catalog = self.ctx.catalog
        with self._lock:
            cached = self._cache
            if cached and cached[0] == id(catalog) and time.monotonic() - cached[1] < VALUES_TTL:
                return cached[2], cached[3]
        vocab = build(catalog, self.values_index())
        parser = Parser(vocab, polarity={m.name: m.polarity.value for m in catalog.metrics.values()})
        with self._lock:
            self._cache = (id(catalog), time.monotonic(), vocab, parser)
        return vocab, parser

    def now(self) -> dt.datetime:
        """The data's newest time (project wall clock), else the project's current time."""
        newest: dt.datetime | None = None
        tables = {m.table for m in self.ctx.catalog.semantic_models.values() if getattr(m, "table", None)}
        for t in tables:
            try:
                f = self.ctx.freshness(str(t))
            except MetricLoopError:
                f = None
            if f is not None and (newest is None or f > newest):
                newest = f
        return newest or dt.datetime.now(self.ctx.tz).replace(tzinfo=None)

    # ------------------------------------------------------------------ understanding
    def understand(self, question: str, *, now: dt.datetime | None = None) -> tuple[Understanding, str]:
        """The structured request (offline; the model only for what the parser cannot resolve)."""
        vocab, parser = self.parser()
        understood = parser.parse(question, now or self.now())
        if understood.complete or self.llm is None:
            return understood, "offline"
        try:
            req = self.llm.request(question, catalog_summary(vocab), now=now or self.now())
            validate(self.ctx.catalog, req)
        except MetricLoopError as exc:
            understood.problems.append(f"model answer refused: {exc.message}")
            log.warning("assistant: model answer refused: %s", exc.message)
            return understood, "offline"
        return Understanding(req), "llm"

    # ------------------------------------------------------------------ answering
    def ask_as(self, question: str, principal: Principal, *, now: dt.datetime | None = None) -> Answer:
        """What a door does for a signed-in user: query permission, the intent's permission, audit."""
        principal.require("query")
        understood = self.understand(question, now=now)
        req = understood[0].request
        if req is not None and not understood[0].clarify and req.intent in INTENT_ACTIONS:
            principal.require(INTENT_ACTIONS[req.intent])
        answer = self.ask(question, principal=principal, now=now, understood=understood)
        self.access.audit(principal.username, "ask", ",".join(answer.request.metrics) if answer.request else None,
                          question=question[:200], intent=answer.intent)
        return answer

    def ask(self, question: str, *, principal: Principal | None = None, now: dt.datetime | None = None,
            execute: bool = True, understood: tuple[Understanding, str] | None = None) -> Answer:
        """Answer ``question`` as ``principal`` (None: no user, as the CLI). ``understood`` reuses a
        result of :meth:`understand` (a door that checks permissions per intent first)."""
        t0 = time.perf_counter()
        vocab, _ = self.parser()
        u, source = understood or self.understand(question, now=now)
        answer = self._answer(u, vocab, principal, source, execute)
        answer.millis = (time.perf_counter() - t0) * 1000
        return answer

    def _answer(self, u: Understanding, vocab: Vocabulary, principal: Principal | None, source: str,
                execute: bool) -> Answer:
        answer = self._answer_of(u, vocab, principal, source, execute)
        answer.unknown = list(u.unknown)
        return answer

    def _answer_of(self, u: Understanding, vocab: Vocabulary, principal: Principal | None, source: str,
                   execute: bool) -> Answer:
        req = u.request
        if req is None or u.clarify:
            return self._clarification(u, vocab, principal, source)
        if principal is not None:
            from metricloop.access.policy import readable

            hidden = [m for m in req.metrics if not readable(self.ctx.catalog, principal, m)]
            if hidden:  # hidden metrics look unknown, as everywhere
                raise NotFoundError(f"unknown metric '{hidden[0]}'", zh=f"未知指标 '{hidden[0]}'")
        try:
            validate(self.ctx.catalog, req)
        except QueryError as exc:
            interp = texts.interpretation(req, vocab, u.defaulted, u.unknown)
            return Answer(req.intent, req, Text(en=f"Cannot answer: {exc.message}",
                                                zh=f"无法回答：{exc.message_zh or exc.message}"), interp,
                          clarify=[{"field": "request", "phrase": exc.message, "options": []}], source=source)
        interp = texts.interpretation(req, vocab, u.defaulted, u.unknown)
        have = vocab.metric_dims.get(req.metrics[0], set()) if req.metrics else set()
        dims = [d for d in vocab.dimension_labels if d in have]  # catalog order: the model's first dimensions
        answer = Answer(req.intent, req, Text(en="", zh=""), interp, source=source,
                        suggestions=texts.suggestions(req, vocab, dims))
        if not execute:
            return answer
        with acting_as(principal):
            if req.intent in ("query", "trend", "compare", "rank"):
                self._metric_query(req, vocab, answer, principal)
            elif req.intent == "why":
                self._why(req, vocab, answer, u.direction)
            elif req.intent in ("define", "owner"):
                self._define(req, vocab, answer)
            elif req.intent == "status":
                self._status(req, vocab, answer, principal)
            else:
                self._similar(req, vocab, answer, principal, u)
        return answer

    def _clarification(self, u: Understanding, vocab: Vocabulary, principal: Principal | None,
                       source: str) -> Answer:
        options = u.clarify
        if principal is not None:  # never offer a metric the user may not read
            from metricloop.access.policy import readable

            for c in options:
                if c["field"] == "metric":
                    c["options"] = [o for o in c["options"] if readable(self.ctx.catalog, principal, o["value"])]
        req = u.request
        first = options[0] if options else {"field": "metric", "phrase": ""}
        if first["field"] == "metric" and first["phrase"]:
            text = Text(en=f"'{first['phrase']}' can mean several metrics: which one?",
                        zh=f"“{first['phrase']}”可能指多个指标，请选择：")
        elif first["field"] == "metric":
            text = Text(en="Which metric? No metric of the catalog is named in the question.",
                        zh="请问查哪个指标？问题里没有找到指标目录中的指标。")
        elif first["field"] == "value":
            text = Text(en=f"'{first['phrase']}' is a value of several dimensions: which one?",
                        zh=f"“{first['phrase']}”是多个维度的取值，请选择：")
        elif first["field"] == "exclude":
            text = Text(en=f"No metric in the catalog excludes '{first['phrase']}'; ask for it separately.",
                        zh=f"指标目录中没有扣除“{first['phrase']}”的指标，请分开查询。")
        else:
            text = Text(en="Please rephrase the question.", zh="请换个说法。")
        interp = texts.interpretation(req, vocab, u.defaulted, u.unknown) if req else Text(en="", zh="")
        return Answer(req.intent if req else "query", req, text, interp, clarify=options, source=source)

    # ------------------------------------------------------------------ intents
    def _metric_query(self, req: AskRequest, vocab: Vocabulary, answer: Answer, principal: Principal | None) -> None:
        grain = req.grain_enum()
        q = MetricQuery(metrics=req.metrics, group_by=req.by, grain=grain, where=req.where,
                        start=req.start, end=req.end,
                        order_by=[req.order] if req.order else [], limit=req.limit, compare=req.compare)
        result = self.access.query(principal, q) if principal is not None else self.ctx.query(q)
        rows = [{k: _cell(v) for k, v in r.items()} for r in result.rows()]
        answer.rows, answer.sql = rows, result.sql
        answer.columns = [c.name for c in result.columns]
        time_col = next((c for c in answer.columns if c.startswith("metric_time")), None)
        labels = {m: vocab.metric_label(m, "zh-CN") for m in req.metrics}
        labels.update({f"{m}__prev": vocab.metric_label(m, "zh-CN") + " (prev)" for m in req.metrics})
        dims = [c for c in answer.columns if c in req.by or c == time_col]
        answer.chart = charts.chart(rows, req.metrics, dims, labels=labels, time_column=time_col,
                                    ranked=req.intent == "rank", compare=req.compare is not None)
        answer.text = self._summary(req, vocab, rows, time_col)

    def _fmt(self, metric: str, value: Any) -> str:
        m = self.ctx.catalog.metrics.get(metric)
        spec = m.format if m is not None and m.format else ",.2f"
        return texts.fmt(value, spec)

    def _summary(self, req: AskRequest, vocab: Vocabulary, rows: list[dict[str, Any]], time_col: str | None) -> Text:
        if not rows:
            return Text(en="No data for this question.", zh="没有符合条件的数据。")
        m = req.metrics[0]
        zh, en = vocab.metric_label(m, "zh-CN"), vocab.metric_label(m, "en")
        if len(rows) == 1 and not req.by and not time_col:
            parts_zh = [f"{vocab.metric_label(x, 'zh-CN')} = {self._fmt(x, rows[0].get(x))}" for x in req.metrics]
            parts_en = [f"{vocab.metric_label(x, 'en')} = {self._fmt(x, rows[0].get(x))}" for x in req.metrics]
            if req.compare and rows[0].get(f"{m}__pct") is not None:
                pct = rows[0][f"{m}__pct"]
                prev = self._fmt(m, rows[0].get(f"{m}__prev"))
                parts_zh[0] += f"（{texts.COMPARE_NAMES[req.compare].zh} {pct:+.1%}，基期 {prev}）"
                parts_en[0] += f" ({pct:+.1%} {texts.COMPARE_NAMES[req.compare].en}, was {prev})"
            return Text(en="; ".join(parts_en), zh="；".join(parts_zh))
        if time_col and req.by:
            groups = {tuple(r.get(d) for d in req.by) for r in rows}
            periods = {r.get(time_col) for r in rows}
            return Text(en=f"{en}: {len(groups)} series over {len(periods)} periods",
                        zh=f"{zh}：{len(groups)} 条序列，共 {len(periods)} 期")
        if time_col:
            values = [r.get(m) for r in rows]
            nums = [v for v in values if isinstance(v, int | float)]
            spark = charts.sparkline(values)
            if not nums:
                return Text(en=f"{en}: no values", zh=f"{zh}：无数据")
            lo, hi = min(nums), max(nums)
            return Text(en=f"{en} over {len(rows)} periods {spark}: min {self._fmt(m, lo)}, max {self._fmt(m, hi)}, "
                           f"latest {self._fmt(m, nums[-1])}",
                        zh=f"{zh} 共 {len(rows)} 期 {spark}：最低 {self._fmt(m, lo)}，最高 {self._fmt(m, hi)}，"
                           f"最近 {self._fmt(m, nums[-1])}")
        first = rows[0]
        name = " · ".join(str(first.get(d)) for d in req.by)
        if req.intent == "rank":
            return Text(en=f"{'Top' if (req.order or '').startswith('-') else 'Bottom'}: {name} "
                           f"({en} {self._fmt(m, first.get(m))}) of {len(rows)} shown",
                        zh=f"{'最高' if (req.order or '').startswith('-') else '最低'}：{name}（{zh} "
                           f"{self._fmt(m, first.get(m))}），共列出 {len(rows)} 项")
        return Text(en=f"{en} for {len(rows)} groups; first: {name} {self._fmt(m, first.get(m))}",
                    zh=f"{zh} 共 {len(rows)} 组；第一组：{name} {self._fmt(m, first.get(m))}")

    def _why(self, req: AskRequest, vocab: Vocabulary, answer: Answer, direction: str | None = None) -> None:
        assert req.start is not None and req.end is not None
        m = req.metrics[0]
        start = dt.datetime.combine(req.start, dt.time())
        end = dt.datetime.combine(req.end, dt.time()) + dt.timedelta(days=1)
        result = self.explain.explain(m, start=start, end=end, vs=req.compare or "last_week",
                                      by=req.by or None, where=req.where, store=False)
        answer.sql = self.ctx.compile(MetricQuery(metrics=[m], where=req.where, start=start,
                                                  end=dt.datetime.combine(req.end, dt.time()),
                                                  compare=req.compare)).sql
        causes = result.top_causes(10)
        answer.rows = [{k: _cell(v) for k, v in c.items()} for c in causes]
        answer.columns = ["element", "actual", "expected", "change", "relative_change", "contribution"]
        if answer.rows:
            answer.chart = charts.chart([{"element": r.get("element"), "contribution": r.get("contribution")}
                                         for r in answer.rows], ["contribution"], ["element"],
                                        labels={"contribution": "贡献 contribution"}, ranked=True)
        elif result.drilldown and result.drilldown.get("dimensions"):  # no slice stands out: where it moved most
            first = result.drilldown["dimensions"][0]
            dim = str(first.get("dimension"))
            keys = ("actual", "expected", "change", "relative_change", "contribution")
            answer.rows = [{dim: r.get("value"), **{k: _cell(r.get(k)) for k in keys}}
                           for r in first.get("rows", [])[:10]]
            answer.columns = [dim, *keys]
            answer.chart = charts.chart([{dim: r[dim], "change": r["change"]} for r in answer.rows], ["change"], [dim],
                                        labels={"change": "变化 change"}, ranked=True)
        summary = result.summary or Text(en="", zh="")
        lead_zh = summary.zh
        lead_en = summary.en
        change = result.change
        if direction and change and (change > 0) == (direction == "down"):  # the premise is wrong: say so first
            moved = f"{abs(change) / abs(result.expected):.1%}" if result.expected else ""
            zh_m, en_m = vocab.metric_label(m, "zh-CN"), vocab.metric_label(m, "en")
            lead_zh = (f"注意：{zh_m}实际{'上升' if change > 0 else '下降'}了 {moved}，"
                       f"并未{'下降' if direction == 'down' else '上升'}。\n") + lead_zh
            lead_en = (f"Note: {en_m} actually went {'up' if change > 0 else 'down'} {moved}; it did not "
                       f"{'fall' if direction == 'down' else 'rise'}.\n") + lead_en
        if causes:
            top = causes[0]
            lead_zh += f"\n主要原因：{top.get('element')}（贡献 {(top.get('contribution') or 0):.0%}）"
            lead_en += f"\nMain cause: {top.get('element')} ({(top.get('contribution') or 0):.0%} of the change)"
        if result.attribution:
            drivers = result.attribution.get("drivers") or []
            if drivers:
                d0 = drivers[0]
                lead_zh += f"\n指标树归因：{d0.get('name')} 贡献 {(d0.get('share') or 0):.0%}"
                lead_en += f"\nTree attribution: {d0.get('name')} explains {(d0.get('share') or 0):.0%}"
        answer.text = Text(en=lead_en.strip(), zh=lead_zh.strip())

    def _define(self, req: AskRequest, vocab: Vocabulary, answer: Answer) -> None:
        from metricloop.catalog import tree
        from metricloop.workflow.owners import person_name

        rows: list[dict[str, Any]] = []
        zh_lines: list[str] = []
        en_lines: list[str] = []
        for name in req.metrics:
            m = self.ctx.catalog.metric(name)
            owners = {role: [person_name(self.workflow.owners, p, self._user_display) for p in getattr(m.owners, role)]
                      for role in ("business", "technical")} if m.owners else {"business": [], "technical": []}
            bd = m.business_definition or m.description
            formula = m.expr or (f"{m.numerator.name} / {m.denominator.name}" if m.numerator and m.denominator else
                                 m.measure or (m.input_metric.name if m.input_metric else ""))
            parents = [e.to_dict() for e in tree.parents(self.ctx.catalog, name)]
            rows.append({"metric": name, "label": vocab.metric_label(name, "zh-CN"),
                         "label_en": vocab.metric_label(name, "en"),
                         "definition": bd.zh_cn if bd else None, "definition_en": bd.en if bd else None,
                         "type": m.type.value, "formula": formula, "unit": m.unit, "tier": m.tier.value,
                         "business_owners": owners["business"], "technical_owners": owners["technical"],
                         "inputs": self.ctx.catalog.inputs(m),
                         "used_by": [p.get("parent") or p.get("name") for p in parents]})
            own_zh = "、".join(owners["business"]) or "未指定"
            own_en = ", ".join(owners["business"]) or "not set"
            tech = "、".join(owners["technical"]) or "未指定"
            if req.intent == "owner":
                zh_lines.append(f"{vocab.metric_label(name, 'zh-CN')} 的业务负责人：{own_zh}；技术负责人：{tech}")
                en_lines.append(f"{vocab.metric_label(name, 'en')} is owned by {own_en} (business), "
                                f"{', '.join(owners['technical']) or 'not set'} (technical)")
                if bd:
                    zh_lines.append(f"口径：{bd.zh_cn or bd.en}")
                    en_lines.append(f"Definition: {bd.en or bd.zh_cn}")
            else:
                d_zh = (bd.zh_cn or bd.en) if bd else "未填写"
                d_en = (bd.en or bd.zh_cn) if bd else "no definition"
                zh_lines.append(f"{vocab.metric_label(name, 'zh-CN')}（{name}）口径：{d_zh}；"
                                f"计算：{formula}；负责人：{own_zh}")
                en_lines.append(f"{vocab.metric_label(name, 'en')} ({name}): {d_en}; computed as {formula}; "
                                f"owner: {own_en}")
        answer.rows = rows
        answer.text = Text(en="\n".join(en_lines), zh="\n".join(zh_lines))

    def _slice_ok(self, req: AskRequest, slice_: dict[str, Any] | None) -> bool:
        """Does a stored record's slice satisfy the question's filter (equality and lists only)?"""
        if not req.where:
            return True
        s = slice_ or {}
        for p in parse_filter(req.where).predicates():
            if isinstance(p, Eq) and p.op in ("=", "!="):
                if (str(s.get(p.dim)) == str(p.value)) != (p.op == "="):
                    return False
            elif isinstance(p, InList) and (str(s.get(p.dim)) in {str(v) for v in p.values}) == p.negated:
                return False
        return True

    def _status(self, req: AskRequest, vocab: Vocabulary, answer: Answer, principal: Principal | None) -> None:
        metrics: list[str | None] = list(req.metrics) or [None]
        rows: list[dict[str, Any]] = []
        for m in metrics:
            for inc in self.workflow.list_incidents(open_only=True, metric=m, limit=50):
                if principal is not None and not self._sees(principal, inc["metric"], inc["slice"]):
                    continue
                if not self._slice_ok(req, inc["slice"]) or not self._in_time(req, inc["triggered_at"]):
                    continue
                rows.append({"kind": "incident", "ref": inc["id"], "metric": inc["metric"], "slice": inc["slice"],
                             "status": inc["status"], "severity": inc["severity"], "title": inc["title"],
                             "since": _cell(inc["triggered_at"]), "owner": inc["owner_name"]})
            for a in self.detection.anomalies(metric=m, state="active", limit=50):
                if principal is not None and not self._sees(principal, a.metric, a.slice):
                    continue
                if not self._slice_ok(req, a.slice) or not self._in_time(req, a.start):
                    continue
                rows.append({"kind": "anomaly", "ref": a.fingerprint[:12], "metric": a.metric, "slice": a.slice,
                             "status": a.state, "severity": a.severity,
                             "title": a.reason.render("zh-CN") if a.reason else a.metric, "since": _cell(a.start),
                             "owner": None})
        answer.rows = rows
        answer.columns = ["kind", "ref", "metric", "slice", "status", "severity", "title", "since", "owner"]
        n_inc = sum(1 for r in rows if r["kind"] == "incident")
        n_an = len(rows) - n_inc
        if rows:
            answer.text = Text(en=f"{n_inc} open incident(s) and {n_an} active anomaly(ies).",
                               zh=f"未关闭事件 {n_inc} 个，活跃异常 {n_an} 个。")
        else:
            answer.text = Text(en="Nothing open: no open incident and no active anomaly.",
                               zh="目前没有未关闭的事件和活跃异常。")

    def _sees(self, principal: Principal, metric: str, slice_: Any) -> bool:
        from metricloop.access.policy import sees_record

        return sees_record(lambda: self.ctx.catalog, principal, metric, slice_)

    def _user_display(self, username: str) -> str | None:
        return self.access.user(username).display_name

    @staticmethod
    def _in_time(req: AskRequest, when: Any) -> bool:
        if not req.start or not isinstance(when, dt.datetime):
            return True
        day = when.date()
        return req.start <= day <= (req.end or day)

    def _similar(self, req: AskRequest, vocab: Vocabulary, answer: Answer, principal: Principal | None,
                 u: Understanding) -> None:
        words = [vocab.metric_label(m, loc) for m in req.metrics for loc in ("zh-CN", "en")]
        if req.where:
            words += [str(getattr(p, "value", "")) for p in parse_filter(req.where).predicates()]
        query = " ".join(w for w in words if w) or "异常 anomaly"
        found = self.review.search(query, limit=20)
        rows = []
        for c in found:
            if principal is not None and not self._sees(principal, c.get("metric", ""), c.get("slice")):
                continue
            if req.metrics and c.get("metric") not in req.metrics:
                continue
            if not self._slice_ok(req, c.get("slice")):
                continue
            rows.append({"incident": c.get("incident"), "title": c.get("title"), "metric": c.get("metric"),
                         "slice": c.get("slice"), "root_cause": c.get("root_cause"),
                         "actions": [a.get("title") for a in c.get("actions") or []],
                         "verdict": c.get("verdict"), "score": c.get("score")})
        answer.rows = rows[:5]
        answer.columns = ["incident", "title", "metric", "root_cause", "actions", "verdict", "score"]
        if answer.rows:
            top = answer.rows[0]
            answer.text = Text(en=f"{len(answer.rows)} similar case(s); closest: {top['incident']} {top['title']}"
                                  + (f" — cause: {top['root_cause']}" if top.get("root_cause") else ""),
                               zh=f"找到 {len(answer.rows)} 个相似案例；最接近：{top['incident']} {top['title']}"
                                  + (f"——原因：{top['root_cause']}" if top.get("root_cause") else ""))
        else:
            answer.text = Text(en="No similar case in the case library yet.", zh="案例库中还没有相似案例。")


def catalog_summary(vocab: Vocabulary) -> str:
    """What a model needs to know of the catalog: metrics with labels and dimensions, and the
    dimensions with a few of their values (no data, no secrets)."""
    lines = ["Metrics (name: zh-CN label / en label; dimensions):"]
    for name, labels in vocab.metric_labels.items():
        dims = ", ".join(sorted(vocab.metric_dims.get(name, set())))
        lines.append(f"- {name}: {labels.get('zh-CN', '')} / {labels.get('en', '')}; {dims}")
    lines.append("Dimensions (name: labels; some values):")
    for dim, labels in vocab.dimension_labels.items():
        vals = ", ".join(vocab.values.get(dim, [])[:12])
        lines.append(f"- {dim}: {labels.get('zh-CN', '')} / {labels.get('en', '')}; {vals}")
    return "\n".join(lines)

