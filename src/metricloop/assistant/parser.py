# ruff: noqa: E501  (the cue-word tables are long regular expressions, one alternative list each)
"""Offline understanding: a question in Chinese or English → a structured request (no IO).

The question is normalised (half-width, lower case) and read in passes, each claiming spans of
the text so later passes cannot reuse them:

1. comparisons (环比, 同比, 比上周, vs last year) — before time, because 比上周 contains 上周;
2. time phrases (:mod:`timephrases`);
3. the catalog's vocabulary, longest phrase first (metrics, dimensions, dimension values);
4. typos: leftover Latin words and jieba's Chinese words close to a phrase of the vocabulary.

Then the pieces are put together: values become filters (negated after 不含/除了/excluding),
dimensions not naming a filter's value become the group-by, rank words give order and limit,
the intent comes from its cue words, and missing times get an explicit default that the
interpretation shows. When a phrase means two things the answer is a clarification, not a guess.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from metricloop.assistant.request import NEEDS_METRIC, AskRequest
from metricloop.assistant.timephrases import EN_NUM, NUM, TimeMatch, find_times, number
from metricloop.assistant.vocab import Entry, Vocabulary, normalize
from metricloop.engine.filters import quote

DEFAULT_DAYS = 7  # a number, a table, a ranking or a comparison without a time: the last 7 days
DEFAULT_TREND_DAYS = 30  # a trend without a time: the last 30 days by day

# ------------------------------------------------------------------------------ cue words
_B = r"\b"
COMPARE_CUES: tuple[tuple[str, str], ...] = (
    ("last_week", r"周同比|周环比|上周同期|(?:比|较|跟|和|与|对比|相比|环比|相较)\s*上\s*(?:周|个?星期|个?礼拜)(?:同期)?"
                  r"|\bvs\.?\s*(?:the\s+)?(?:last|previous|prior)\s+week\b|\bversus\s+last\s+week\b"
                  r"|\bcompared\s+(?:to|with)\s+(?:the\s+)?(?:last|previous|prior)\s+week\b|\bagainst\s+last\s+week\b"
                  r"|\bthan\s+(?:the\s+)?(?:last|previous|prior)\s+week\b|\bw-?o-?w\b|\bweek[- ]?(?:over|on)[- ]?week\b"
                  r"|\bfrom\s+last\s+week\b|\bvs\.?\s*(?:a\s+)?week\s+(?:ago|before)\b|\bsame\s+day\s+last\s+week\b"),
    ("last_year", r"同比|去年同期|(?:比|较|跟|和|与|对比|相比|相较)\s*去年|\by-?o-?y\b|\byear[- ]?(?:over|on)[- ]?year\b"
                  r"|\bvs\.?\s*last\s+year\b|\bversus\s+last\s+year\b|\bcompared\s+(?:to|with)\s+last\s+year\b"
                  r"|\bthan\s+last\s+year\b|\bsame\s+(?:period|time|day|week|month|quarter)\s+(?:of\s+)?last\s+year\b"
                  r"|\bagainst\s+last\s+year\b|\bfrom\s+last\s+year\b|\blast\s+year'?s\s+same\b|\ba\s+year\s+ago\b"),
    ("last_week", r"\b(?:compared?\s+(?:to|with)|vs\.?|versus|than|against)\s+the\s+week\s+before\b"),
    ("last_year", r"\b(?:compared?\s+(?:to|with)|vs\.?|versus|than|against)\s+the\s+year\s+before\b"),
    ("previous_period", r"\b(?:compared?\s+(?:to|with)|vs\.?|versus|than|against)\s+the\s+(?:month|day|quarter|period|(?:\d+|[a-z]+)\s+(?:days|weeks|months))\s+before\b"
                        r"|(?:比|较|跟|和|与|对比|相比)\s*(?:前一个?月|前一周|前一天|前一季度?)"),
    ("previous_period", r"环比|上期|(?:比|较|跟|和|与|对比|相比|相较)\s*(?:上个?月|上一个月|昨天|前一天|上一期|上期|上季度?|上个季度|前一期)"
                        r"|\bm-?o-?m\b|\bmonth[- ]?(?:over|on)[- ]?month\b|\bvs\.?\s*(?:the\s+)?(?:last|previous|prior)\s+"
                        r"(?:month|period|day|quarter)\b|\bcompared\s+(?:to|with)\s+(?:the\s+)?(?:last|previous|prior)\s+"
                        r"(?:month|period|day|quarter)\b|\bperiod[- ]?(?:over|on)[- ]?period\b|\bd-?o-?d\b"
                        r"|\bday[- ]?(?:over|on)[- ]?day\b|\bq-?o-?q\b|\bquarter[- ]?(?:over|on)[- ]?quarter\b"
                        r"|\bthan\s+(?:the\s+)?(?:previous|prior|last)\s+(?:month|period|day|quarter)\b"
                        r"|\bvs\.?\s*yesterday\b|\bthan\s+yesterday\b|\bfrom\s+(?:the\s+)?(?:previous|prior)\s+period\b"),
)
COMPARE_WORD = (r"对比|比较|相比|相较|同期比|比|较|\bvs\.?(?=\s|$)|\bversus\b|\bcompared?\b|\bcomparison\b|\bagainst\b"
                r"|(?<![a-z])than\b")
CHANGE_WORD = (r"涨了|跌了|增长|下降|下滑|上涨|下跌|涨幅|跌幅|增幅|降幅|变化了?多少|多了多少|少了多少|涨跌|变动"
               r"|\bgrowth\b|\bgrew\b|\bchanged?\b|\bincrease[sd]?\b|\bdecrease[sd]?\b|\bdrop(?:ped)?\b|\bup or down\b"
               r"|\bdelta\b|\bmoved?\b|\bfell\b|\brose\b|\bgo(?:ne)? up\b|\bgo(?:ne)? down\b|\bwent (?:up|down)\b")
SALES = (r"卖了?多少|卖得怎么样|卖得咋样|销售情况|营业额|流水|\bhow much (?:did|have) we (?:sell|sold|make|made)\b"
         r"|\bhow much we (?:sold|made)\b|\bturnover\b")  # the north-star money metric, when the catalog has one
DOWN = (r"下降|下跌|下滑|跌|掉|减少|变少|变低|少了|降|\bdrop\w*|\bdown\b|\bdeclin\w*|\bf[ae]ll\w*|\blower\b|\bdip\w*"
        r"|\bdecreas\w*|\bcrash\w*|\bslump\w*|\bshrink\w*|\blow\b")
UP = (r"上涨|上升|增长|增加|涨|变多|变高|多了|升|\brise\b|\brose\b|\bup\b|\bjump\w*|\bspike\w*|\bincreas\w*"
      r"|\bgr[eo]w\w*|\bhigher\b|\bsurg\w*")
WHY = (r"\bwhat happened to\b|\bwhat(?:'s| is) (?:going on|up) with\b|为什么|为何|为啥|咋回事|怎么回事|什么原因|啥原因|原因|归因|怎么(?:会|就)?(?:跌|降|涨|掉|少|多|下滑|暴跌|暴涨)|咋(?:跌|降|涨|掉)"
       r"|\bwhy\b|\bwhat caused\b|\bcauses?\b|\bcaused\b|\breasons?\b|\bexplain\b|\bhow come\b|\bwhat drove\b"
       r"|\bdrivers? (?:of|behind)\b|\broot cause\b|\bwhat(?:'s| is) behind\b|\bwhat made\b")
SIMILAR = (r"\bhas\b.*\bbefore\b|\b(?:like|as bad as) this\b.*\bbefore\b|\bbefore\s*\??\s*$|曾经|上次|上一次|以前|之前|历史上|历史案例|类似|相似|案例|复盘|发生过|\blast time\b|\bsimilar\b|\bhappened before\b"
           r"|\bpast (?:cases|incidents|reviews)\b|\bcase librar|\bprevious (?:cases|incidents)\b|\bpost-?mortems?\b"
           r"|\bbefore\b.*\bhappen|\bhas this happened\b|\bhistor(?:y|ical) (?:cases?|incidents?)\b")
STATUS = (r"异常|告警|报警|预警|事件|故障|出问题|有问题|什么问题|哪些问题|不对劲|不正常|\banomal\w*|\balerts?\b|\balarm\w*"
          r"|\bincidents?\b|\bwhat'?s wrong\b|\bwhat is wrong\b|\bproblems?\b|\bissues?\b|\bbroken\b|\boutages?\b"
          r"|\bon fire\b|\bgoing on\b|\bfiring\b")
OWNER = (r"负责人|谁负责|谁管|归谁|谁在管|谁来管|找谁|对接人|owner是谁|\bowners?\b|\bwho owns\b|\bwho is responsible\b"
         r"|\bresponsible for\b|\bwho(?:'s| is) in charge\b|\bcontact person\b|\bwho maintains\b|\bwho should i ask\b"
         r"|\bwho do i (?:ask|talk to|contact)\b|\bwho looks after\b")
DEFINE = (r"区别|差别|\bdifference\b|\bdiffer\b|口径|定义|什么意思|啥意思|怎么算|如何计算|怎么计算|怎么统计|如何统计|计算公式|计算方法|含义|指什么|血缘|由什么组成"
          r"|是什么指标|是什么(?=[?？\s]*$)|是啥(?=[?？\s]*$)|\bdefin(?:e|ed|ition)\b|\bmeaning\b|\bmean\b|\bformula\b"
          r"|\blineage\b|\bhow (?:is|are|do you|do we)\b.*\b(?:calculated?|computed?|defined|measured?|counted)\b"
          r"|\bwhat (?:is|are)\b.*\bmade of\b|\bwhat does\b|\bwhat exactly is\b")
DEFINE_WEAK = r"是什么(?=[?？\s]*$)|是啥(?=[?？\s]*$)|\bwhat does\b|\bwhat exactly is\b|\bmean\b"  # also ends why-questions
EACH = r"分别|各自|\brespectively\b|\beach\b"  # 广东和浙江分别: one row per value
RANK_DESC = (r"\btop(?![a-z])|前\s*(?:\d+|[一二两三四五六七八九十]+)\s*(?:名|个|位|大)?|排名前|最高|最多|最大|最好|最强|最快|最猛|最火|第一"
             r"|\bhighest\b|\bmost\b|\bbiggest\b|\blargest\b|\bbest\b|\bstrongest\b|\bleading\b|\bleader\b|\bmax(?:imum)?\b"
             r"|\bgreatest\b|\bhigh(?:est)?\s+to\s+low(?:est)?\b")
RANK_ASC = (r"\bbottom(?![a-z])|后\s*(?:\d+|[一二两三四五六七八九十]+)\s*(?:名|个|位)?|倒数|垫底|最低|最少|最小|最差|最弱|最慢|最烂"
            r"|\blowest\b|\bleast\b|\bsmallest\b|\bworst\b|\bweakest\b|\blagging\b|\bmin(?:imum)?\b|\bfewest\b"
            r"|\blow(?:est)?\s+to\s+high(?:est)?\b")
RANK_PLAIN = r"排名|排行|排序|排个序|榜|\brank(?:ed|ing|s)?\b|\bsort(?:ed)?\b|\bleaderboard\b"
SUPERLATIVE = (r"最高|最多|最大|最好|最强|最快|最猛|最火|第一|最低|最少|最小|最差|最弱|最慢|最烂|垫底|\bhighest\b|\bmost\b|\bbiggest\b"
               r"|\blargest\b|\bbest\b|\bstrongest\b|\blowest\b|\bleast\b|\bsmallest\b|\bworst\b|\bweakest\b|\bfewest\b"
               r"|\bgreatest\b|\bmax(?:imum)?\b|\bmin(?:imum)?\b")
POLAR = r"最好|最差|最强|最弱|最烂|\bbest\b|\bworst\b|\bstrongest\b|\bweakest\b"  # direction follows the metric's polarity
TREND = (r"趋势|走势|曲线|走向|变化情况|波动|每天|每日|每周|每月|按天|按日|按周|按月|逐日|逐周|逐月|日度|周度|月度|分天|分日|分周|分月|每小时|按小时"
         r"|分小时|按季度?|每季度?|逐季|\btrends?\b|\btrending\b|\bover time\b|\bdaily\b|\bweekly\b|\bmonthly\b"
         r"|\bquarterly\b|\bhourly\b|\bday by day\b|\bweek by week\b|\bmonth by month\b|\b(?:by|per|each|every)\s+"
         r"(?:day|week|month|hour|quarter)\b|\btime ?series\b|\bhow (?:has|did)\b.*\b(?:moved|changed|evolved|developed|"
         r"trended|gone)\b|\bchart\b|\bplot\b|\bgraph\b|\bline\b")
GRAIN_CUES: tuple[tuple[str, str], ...] = (
    ("hour", r"每小时|按小时|分小时|逐小时|小时级|\bhourly\b|\b(?:by|per|each|every)\s+hour\b|哪个小时|\bwhich hour\b"),
    ("day", r"\b(?:best|worst|peak|busiest|slowest|biggest|top|highest|lowest|strongest|weakest)\s+(?:day|date)\b|每天|每日|按天|按日|分天|分日|逐日|日度|\bdaily\b|\bday by day\b|\b(?:by|per|each|every)\s+day\b|哪天|哪一天|哪日"
            r"|\bwhich day\b|\bwhat day\b|\bwhich date\b"),
    ("week", r"\b(?:best|worst|peak|busiest|slowest|biggest|top|highest|lowest|strongest|weakest)\s+week\b|每周|按周|分周|逐周|周度|\bweekly\b|\bweek by week\b|\b(?:by|per|each|every)\s+week\b|哪周|哪一周|哪个星期"
             r"|\bwhich week\b"),
    ("month", r"\b(?:best|worst|peak|busiest|slowest|biggest|top|highest|lowest|strongest|weakest)\s+month\b|每月|按月|分月|逐月|月度|\bmonthly\b|\bmonth by month\b|\b(?:by|per|each|every)\s+month\b|哪个月|哪月|哪一个月"
              r"|\bwhich month\b"),
    ("quarter", r"按季度?|每季度?|逐季|分季度?|\bquarterly\b|\b(?:by|per|each|every)\s+quarter\b|哪个季度|\bwhich quarter\b"),
)
WHICH_PERIOD = r"\b(?:best|worst|peak|busiest|slowest|biggest|top|highest|lowest|strongest|weakest)\s+(?:day|date|week|month|hour|quarter)\b|哪天|哪一天|哪日|哪周|哪一周|哪个星期|哪个月|哪月|哪一个月|哪个季度|哪个小时|\bwhich (?:day|date|week|month|quarter|hour)\b|\bwhat day\b"
NEGATE = (r"不含|不包含|不包括|不计|不算|除了|除去|除开|排除|剔除|去掉|去除|扣除|扣掉|刨除|刨去|减去|不要|不看|\bexcluding\b|\bexclude[sd]?\b"
          r"|\bexcept(?:\s+for)?\b|\bwithout\b|\bnot\s+including\b|\bother\s+than\b|\bnet\s+of\b|\bminus\b|\bignoring\b"
          r"|\bleaving\s+out\b|\bapart\s+from\b|\bbesides\b|\bexcl\.?")
NEGATE_PREFIX = r"非|\bnon[- ]?"
LIST_GAP = re.compile(r"^[\s,、/&和与及或跟以的]*(?:and|or|nor|&|以及|或者|还有|the|all)?[\s,、/&和与及或跟的]*(?:the)?\s*$")
ATTACH_GAP = re.compile(r"^[\s:：=的为是在里中属于\-]*(?:is|in|of|=|for|from|the|channel|region)?[\s:：=的为是]*$")
BY_CUE = r"按|分|各|每个|每一个|不同|哪个|哪些|哪|\bby\b|\bper\b|\bacross\b|\beach\b|\bevery\b|\bwhich\b|\bsplit\b|\bbreak"
_STOP_WORDS = (
    "the a an of to in on and or is was were for by with at from as be per over what whats how much many show me "
    "give tell please our we i my your this that these those it its are did do does has have had number value "
    "total sum get list see check look about vs versus than compared compare can could would you any all "
    "numbers figure figures data report quick so far there here which who whom why when where day days week "
    "weeks month months year years today yesterday last past previous current now up down")
STOP_EN = frozenset(_STOP_WORDS.split(" "))


@dataclass
class Token:
    span: tuple[int, int]
    kind: str  # metric | dimension | value | time
    targets: list[str] = field(default_factory=list)
    time: TimeMatch | None = None
    negated: bool = False
    fuzzy: bool = False


@dataclass
class Understanding:
    """The request (possibly partial), what needs the user's choice, and how sure we are."""

    request: AskRequest | None
    clarify: list[dict[str, Any]] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)  # fields filled by a default: "time", "compare"
    complete: bool = True
    problems: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # words left over: shown, so nothing is dropped silently
    direction: str | None = None  # "down" / "up" when the question says which way it moved

    @property
    def needs_clarification(self) -> bool:
        return bool(self.clarify)


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            chars[i] = " "
    return "".join(chars)


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in taken)


class Parser:
    """Understands questions about one vocabulary (a catalog and its dimension values)."""

    def __init__(self, vocab: Vocabulary, *, polarity: dict[str, str] | None = None) -> None:
        self.vocab = vocab
        self.polarity = polarity or {}
        self._fuzzy_ascii = [e for e in vocab.entries.values() if e.phrase.isascii() and len(e.phrase) >= 4]
        self._fuzzy_zh = [e for e in vocab.entries.values() if not e.phrase.isascii() and len(e.phrase) >= 3]

    # ------------------------------------------------------------------ passes
    def tokens(self, q: str, now: dt.datetime) -> tuple[list[Token], list[tuple[int, int]], str | None]:
        taken: list[tuple[int, int]] = []
        compare: str | None = None
        for target, cue in COMPARE_CUES:
            for m in re.finditer(cue, _mask(q, taken), re.A):
                if not _overlaps(m.span(), taken):
                    compare = compare or target
                    taken.append(m.span())
        tokens: list[Token] = []
        for tm in find_times(_mask(q, taken), now):
            tokens.append(Token(tm.span, "time", time=tm))
            taken.append(tm.span)
        masked = _mask(q, taken)
        for pattern, entry in self.vocab.patterns:
            for m in pattern.finditer(masked):
                if m.end() > m.start() and not _overlaps(m.span(), taken):
                    tokens.append(Token(m.span(), entry.kind, list(entry.targets)))
                    taken.append(m.span())
        tokens += self._typos(_mask(q, taken), taken)
        tokens.sort(key=lambda t: t.span)
        return tokens, taken, compare

    def _typos(self, text: str, taken: list[tuple[int, int]]) -> list[Token]:
        """Leftover words one or two letters away from a phrase: ``convertion rate``, ``成交颜``."""
        out: list[Token] = []
        words = [(m.group(), m.span()) for m in re.finditer(r"[a-z][a-z0-9']*", text)]
        used: set[int] = set()
        for size in (3, 2, 1):
            for i in range(len(words) - size + 1):
                if any(j in used for j in range(i, i + size)):
                    continue
                chunk = words[i:i + size]
                phrase = " ".join(w for w, _ in chunk)
                if size == 1 and (phrase in STOP_EN or len(phrase) < 4):
                    continue
                best = self._closest(phrase, self._fuzzy_ascii, 0.84 if len(phrase) > 5 else 0.8)
                if best is not None:
                    span = (chunk[0][1][0], chunk[-1][1][1])
                    out.append(Token(span, best.kind, list(best.targets), fuzzy=True))
                    used.update(range(i, i + size))
        for m in re.finditer(r"[\u4e00-\u9fff]{3,}", text):
            for word, start in _segments(m.group()):
                if len(word) < 3:
                    continue
                best = self._closest(word, [e for e in self._fuzzy_zh if len(e.phrase) == len(word)], 0.66)
                if best is not None:
                    a = m.start() + start
                    out.append(Token((a, a + len(word)), best.kind, list(best.targets), fuzzy=True))
        return out

    @staticmethod
    def _closest(word: str, entries: list[Entry], cutoff: float) -> Entry | None:
        best: Entry | None = None
        best_score = cutoff
        for e in entries:
            score = difflib.SequenceMatcher(None, word, e.phrase).ratio()
            if score > best_score or (score == best_score and best is None and score > cutoff):
                best, best_score = e, score
        return best

    # ------------------------------------------------------------------ the whole question
    def parse(self, question: str, now: dt.datetime) -> Understanding:
        q = normalize(question)
        tokens, taken, compare = self.tokens(q, now)
        rest = _mask(q, [t.span for t in tokens] + taken)  # what is left: cue words
        has = {name: bool(re.search(p, rest, re.A)) for name, p in (
            ("why", WHY), ("similar", SIMILAR), ("status", STATUS), ("owner", OWNER), ("define", DEFINE),
            ("rank_desc", RANK_DESC), ("rank_asc", RANK_ASC), ("rank_plain", RANK_PLAIN), ("trend", TREND),
            ("compare_word", COMPARE_WORD), ("change", CHANGE_WORD), ("which_period", WHICH_PERIOD))}
        has["define_strong"] = bool(re.search(DEFINE, re.sub(DEFINE_WEAK, " ", rest, flags=re.A), re.A))
        clarify: list[dict[str, Any]] = []
        problems: list[str] = []

        # metrics (a negated metric after 不含/excluding is handled with the filters)
        self._negations(q, tokens)
        metric_tokens = [t for t in tokens if t.kind == "metric"]
        if len({x for t in metric_tokens for x in t.targets}) > 1:
            values_at = {t.span[1] for t in tokens if t.kind == "value"}
            metric_tokens = [t for t in metric_tokens
                             if not any(q[end:t.span[0]].strip(" 的") == "" for end in values_at if end <= t.span[0])]
        metrics: list[str] = []
        excluded: list[str] = []
        for t in metric_tokens:
            if len(t.targets) > 1:
                clarify.append(self._choice("metric", q[t.span[0]:t.span[1]], t.targets))
                continue
            target = (excluded if t.negated else metrics)
            if t.targets[0] not in target:
                target.append(t.targets[0])
        if not metrics and not clarify and len(self.vocab.headline) == 1 and re.search(SALES, q, re.A):
            metrics.append(self.vocab.headline[0])
        for ex in excluded:
            replaced = False
            for i, base in enumerate(metrics):
                derived = self._net_metric(base, ex)
                if derived:
                    metrics[i] = derived
                    replaced = True
            if not replaced:
                problems.append(f"cannot exclude metric '{ex}'")
                clarify.append({"field": "exclude", "phrase": ex, "options": []})

        # values → filters; dimensions → filter labels or group-by
        by: list[str] = []
        preds: dict[str, dict[str, list[str]]] = {}
        value_tokens = [t for t in tokens if t.kind == "value"]
        dim_tokens = [t for t in tokens if t.kind == "dimension"]
        mentioned_dims = {d for t in dim_tokens for d in t.targets}
        for t in value_tokens:
            options = t.targets
            dims = {o.split("=", 1)[0] for o in options}
            if len(dims) > 1:
                preferred = [o for o in options if o.split("=", 1)[0] in mentioned_dims]
                compatible = [o for o in (preferred or options)
                              if all(o.split("=", 1)[0] in self.vocab.metric_dims.get(m, set()) for m in metrics)]
                if len({o.split("=", 1)[0] for o in compatible}) == 1:
                    options = compatible[:1]
                else:
                    clarify.append(self._choice("value", q[t.span[0]:t.span[1]], options))
                    continue
            dim, value = options[0].split("=", 1)
            bucket = preds.setdefault(dim, {"in": [], "out": []})
            bucket["out" if t.negated else "in"].append(value)
        for t in dim_tokens:
            dim = t.targets[0]
            attached = any(v.targets[0].split("=", 1)[0] == dim and _near(q, t.span, v.span) for v in value_tokens)
            if dim in preds and (attached or not re.search(BY_CUE, q[max(0, t.span[0] - 4):t.span[0]]
                                                          + q[t.span[1]:t.span[1] + 6], re.A)):
                continue
            if dim not in by:
                by.append(dim)
        if re.search(EACH, q, re.A):
            for dim, bucket in preds.items():
                if len(bucket["in"]) > 1 and dim not in by:
                    by.append(dim)
        where = _where(preds)

        # time
        times = [t.time for t in tokens if t.kind == "time" and t.time is not None]
        start = end = None
        natural_grain: str | None = None
        if times:
            main = times[0]
            start, end, natural_grain = main.start, main.end, main.grain
            if len(times) > 1 and compare is None:
                compare = _compare_between(main, times[1]) if (has["compare_word"] or has["change"]
                                                               or has["why"]) else None
                if compare is None:  # two periods without a comparison: the span covering both
                    start, end = min(t.start for t in times), max(t.end for t in times)
                    natural_grain = None

        # intent
        intent = self._intent(has, metrics, by, compare)
        defaulted: list[str] = []
        today = now.date()
        grain: str | None = None
        for g, pattern in GRAIN_CUES:
            if re.search(pattern, rest, re.A):
                grain = g
                break
        order: str | None = None
        limit: int | None = None
        if intent == "rank":
            desc = has["rank_desc"] or not has["rank_asc"]
            if has["rank_desc"] and has["rank_asc"]:
                desc = _first(rest, RANK_DESC) < _first(rest, RANK_ASC)
            if metrics and re.search(POLAR, rest, re.A) and self.polarity.get(metrics[0]) == "lower_is_better":
                desc = not desc
            limit = _rank_limit(rest)
            if limit is None and re.search(SUPERLATIVE, rest, re.A) and not re.search(RANK_PLAIN, rest, re.A):
                limit = 1 if not re.search(r"\b(?:top|bottom)(?![a-z])|哪些|\bwhich\s+[a-z]+s\b", q, re.A) else None
            if limit is None and re.search(r"\b(?:top|bottom)(?![a-z])", rest, re.A):
                limit = 10
            if metrics:
                order = ("-" if desc else "") + metrics[0]
            if not by and grain is None:
                grain = "day" if has["which_period"] else None
            if not has["which_period"] and by:
                grain = None
        elif intent == "trend":
            grain = grain or None
        elif intent in ("query", "compare"):
            grain = grain if has["trend"] else None
        if intent in ("define", "owner", "status", "similar"):
            grain = None
            if intent in ("define", "owner"):
                start = end = None
                compare = None
        elif start is None:
            defaulted.append("time")
            if intent == "why":
                start = end = today
            else:
                days = DEFAULT_TREND_DAYS if intent == "trend" else DEFAULT_DAYS
                start, end = today - dt.timedelta(days=days - 1), today
        if intent == "trend" and grain is None:
            span_days = (end - start).days + 1 if start and end else DEFAULT_TREND_DAYS
            grain = "day" if span_days <= 62 else "week" if span_days <= 190 else "month"
            if natural_grain == "day" and span_days == 1:
                grain = "hour"
        if intent == "why" and compare is None:
            defaulted.append("compare")
            span_days = (end - start).days + 1 if start and end else 1
            compare = "previous_period" if span_days >= 7 else "last_week"
        if intent == "compare" and compare is None:
            defaulted.append("compare")
            compare = "previous_period"
        if intent in ("status", "similar", "define", "owner"):
            by, order, limit = ([], None, None)
            if intent in ("define", "owner"):
                where = None
        unknown = _leftovers(q, tokens, taken)
        complete = not clarify and not unknown and (bool(metrics) or intent not in NEEDS_METRIC)
        try:
            req = AskRequest.model_validate({"intent": intent, "metrics": metrics, "by": by, "where": where,
                                             "start": start, "end": end, "grain": grain, "compare": compare,
                                             "order": order, "limit": limit})
        except ValueError as exc:  # pragma: no cover - the parser builds valid requests
            return Understanding(None, clarify, defaulted, False, [str(exc)])
        if not metrics and intent in NEEDS_METRIC and not clarify:
            clarify.append(self._choice("metric", "", list(self.vocab.metric_labels)[:12]))
        direction = "down" if re.search(DOWN, rest, re.A) else "up" if re.search(UP, rest, re.A) else None
        return Understanding(req, clarify, defaulted, complete, problems, unknown, direction)

    # ------------------------------------------------------------------ helpers
    def _intent(self, has: dict[str, bool], metrics: list[str], by: list[str], compare: str | None) -> str:
        if has["owner"]:
            return "owner"
        if has["define"] and (has["define_strong"] or not has["why"]) \
                and not (has["rank_desc"] or has["rank_asc"] or has["rank_plain"]):
            return "define"
        if has["similar"]:
            return "similar"
        if has["why"]:
            return "why"
        if has["status"]:
            return "status"
        ranked = has["rank_desc"] or has["rank_asc"] or has["rank_plain"]
        if ranked and (by or has["which_period"]):
            return "rank"
        if compare is not None or has["change"]:
            return "compare"
        if has["trend"]:
            return "trend"
        if has["rank_desc"] or has["rank_asc"] or has["rank_plain"]:
            return "rank"
        return "query"

    def _negations(self, q: str, tokens: list[Token]) -> None:
        """Mark value and metric tokens that follow 不含/除了/excluding (or 非/non- right before)."""
        for m in re.finditer(NEGATE, q, re.A):
            pos = m.end()
            first = True
            for t in tokens:
                if t.span[0] < pos:
                    continue
                gap = q[pos:t.span[0]]
                if t.kind == "metric" and first and LIST_GAP.match(gap):
                    t.negated = True  # 不含退款 → excluded from the metric; the list ends here
                    break
                first = False
                if t.kind == "value" and LIST_GAP.match(gap):
                    t.negated = True
                    pos = t.span[1]
                    continue
                if t.kind == "dimension" and LIST_GAP.match(gap):
                    pos = t.span[1]
                    continue
                break
        for m in re.finditer(NEGATE_PREFIX, q, re.A):
            for t in tokens:
                if t.kind == "value" and t.span[0] == m.end():
                    t.negated = True

    def _net_metric(self, base: str, excluded: str) -> str | None:
        """A derived metric of the catalog that is ``base - excluded`` (不含退款 → 净成交额)."""
        for name, expr in self.vocab.formulas.items():
            if expr == f"{base}-{excluded}":
                return name
        return None

    def _choice(self, kind: str, phrase: str, options: list[str]) -> dict[str, Any]:
        out = []
        for o in options:
            if kind == "metric":
                out.append({"value": o, "label": {"zh-CN": self.vocab.metric_label(o, "zh-CN"),
                                                  "en": self.vocab.metric_label(o, "en")}})
            else:
                dim, value = o.split("=", 1)
                out.append({"value": f"{dim} = {quote(value)}",
                            "label": {"zh-CN": f"{self.vocab.dimension_label(dim, 'zh-CN')}={value}",
                                      "en": f"{self.vocab.dimension_label(dim, 'en')}={value}"}})
        return {"field": kind, "phrase": phrase, "options": out}


def _segments(text: str) -> list[tuple[str, int]]:
    """jieba's words of a Chinese run with their offsets (typo candidates)."""
    from metricloop.review.cases import _jieba

    out: list[tuple[str, int]] = []
    pos = 0
    for w in _jieba().lcut(text):
        out.append((w, pos))
        pos += len(w)
    if len(text) <= 6:
        out.append((text, 0))
    return out


def _near(q: str, a: tuple[int, int], b: tuple[int, int]) -> bool:
    gap = q[a[1]:b[0]] if a[1] <= b[0] else q[b[1]:a[0]]
    return len(gap.strip()) <= 4 and bool(ATTACH_GAP.match(gap) or len(gap.strip()) <= 1)


def _where(preds: dict[str, dict[str, list[str]]]) -> str | None:
    parts: list[str] = []
    for dim, bucket in preds.items():
        for key, op1, opn in (("in", "=", "in"), ("out", "!=", "not in")):
            vals = list(dict.fromkeys(bucket[key]))
            if len(vals) == 1:
                parts.append(f"{dim} {op1} {quote(vals[0])}")
            elif vals:
                parts.append(f"{dim} {opn} ({', '.join(quote(v) for v in vals)})")
    return " and ".join(parts) or None


def _compare_between(main: TimeMatch, other: TimeMatch) -> str | None:
    """The comparison two named periods make (本周 vs 上周 → last_week)."""
    if other.start == main.start - dt.timedelta(days=7):
        return "last_week"
    if other.start.month == main.start.month and other.start.day == main.start.day \
            and other.start.year == main.start.year - 1:
        return "last_year"
    if other.end < main.start or (other.start, other.end) == (main.start, main.end):
        return "previous_period"  # 近7天比前7天: the same words name the window before
    return None


def _first(text: str, pattern: str) -> int:
    m = re.search(pattern, text, re.A)
    return m.start() if m else len(text)


def _rank_limit(text: str) -> int | None:
    m = re.search(rf"(?:\btop|\bbottom|前|后|倒数)\s*(?:第)?{NUM}", text, re.A) or \
        re.search(rf"最\S{{1,2}}的\s*{NUM}\s*(?:个|名|位|家|款|类)", text, re.A) or \
        re.search(rf"^\s*{EN_NUM}\s+[a-z]+\b", text, re.A) or \
        re.search(r"\b(\d{1,3}|three|five|ten|twenty)\s+(?:best|worst|top|bottom|highest|lowest|biggest|largest|"
                  r"smallest|weakest|strongest)\b", text, re.A) or \
        re.search(r"(?:\b(?:top|bottom|best|worst|highest|lowest)\s+)(\d{1,3}|three|five|ten|twenty)\b", text, re.A)
    if m:
        n = number(m.group(1))
        return n if n and n > 0 else None
    return None


# Words that carry no request of their own (politeness, question words, fillers) in either language.
_ZH_FILLER_WORDS = (
    "多少 是多少 有多少 怎么样 咋样 如何 帮我 帮忙 帮 我 我们 查下 查一下 查查 查 看看 看下 看一下 看 一下 下 拉 拉一下 给 给我 情况 数据 数字 "
    "分别 哪个 哪些 哪 以外 之外 期间 当天 那天 那 这 这个 那个 指标 了 吗 呢 啊 吧 呀 的 得 地 是 有 在 和 与 及 跟 或 还是 多还是少 "
    "多 少 高 低 还 也 都 就 又 再 最近 目前 现在 当前 截止 截至 至今 为止 一共 总共 合计 总 全部 所有 整体 大盘 全年 全 年 月 "
    "周 天 日 个 名 位 家 这么 那么 什么 啥 怎么 怎 么 能 可以 请 问 一 的话 来 去 要 想 知道 告诉 统计 显示 列出 对比下 对比一下 "
    "变化 变 涨 跌 降 升 上升 增加 减少 变低 变高 下降 下跌 上涨 增长 暴跌 暴涨 下滑 低 高 掉 多了 少了 出过 出 过 有没有 没有 "
    "是不是 不是 该 应该 处理 处理的 问题 原因 是什么 什么样 相关 相关的 这样 那样 按 分 各 每 每个 不同 所 该找 找 谁 的人 "
    "值 数值 水平 表现 走 走了 分析 分析下 分析一下 拆 拆解 以来 开始 到 至 从 截止到 当月 本 上 下 前 后 里 中 内 之 于 为 被 把 "
    "ok 好 好不好 业务 卖 累计 同期 同比 环比 分别是")
ZH_FILLERS = frozenset(_ZH_FILLER_WORDS.split(" "))
_EN_FILLER_WORDS = (
    "show tell give list me us what's whats how's hows is are was were be been do does did doing done have has had "
    "please pls can could would should will shall may might the a an of for in on at to from by with about over "
    "during into per vs versus than and or but so that this these those it its there here which who whom whose why "
    "when where what how much many number numbers value values total overall all any some every each current "
    "currently now right rn recently lately today so far yet still ever again also just only really very quite "
    "up down go going gone went grow grew growth change changed changes rise rose fall fell drop dropped dip "
    "jump jumped spike spiked crash crashed decline increase increased decrease low lower high higher looks look "
    "looking off like same day week month year period before ago time times last past previous prior next "
    "compared compare comparison against between difference ask talk i we our my you your they them doing "
    "data figure figures metric metrics kpi kpis report chart plot graph see check get let lets need want "
    "open current broken wrong problems problem issues issue alarming anything something happening happened "
    "cause caused causes reason reasons behind explain root did do was what")
EN_FILLERS = STOP_EN | frozenset(_EN_FILLER_WORDS.split(" "))


def _leftovers(q: str, tokens: list[Token], taken: list[tuple[int, int]]) -> list[str]:
    """Words of the question that no pass understood (typed values the index lacks, unknown terms)."""
    text = _mask(q, [t.span for t in tokens] + taken)
    for pattern in (WHY, SIMILAR, STATUS, OWNER, DEFINE, RANK_DESC, RANK_ASC, RANK_PLAIN, TREND, COMPARE_WORD,
                    CHANGE_WORD, NEGATE, SALES, WHICH_PERIOD, *[p for _, p in GRAIN_CUES]):
        text = re.sub(pattern, " ", text, flags=re.A)
    out: list[str] = []
    for word in re.findall(r"[a-z][a-z0-9'_-]*", text):
        if len(word) >= 3 and word not in EN_FILLERS and word.rstrip("s") not in EN_FILLERS:
            out.append(word)
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        for word, _ in _segments(run)[: len(_segments(run)) - (1 if len(run) <= 6 else 0)]:
            if len(word) >= 2 and word not in ZH_FILLERS and not all(c in ZH_FILLERS for c in word) \
                    and number(word.rstrip("个名位家款类")) is None:
                out.append(word)
    return list(dict.fromkeys(out))
