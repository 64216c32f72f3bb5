"""A bilingual glossary for the case library: a Chinese query finds a review written in English
and back (退款 ↔ refund, 支付 ↔ payment), with no translation service and no model.

It is built from what the project already says in both languages — every metric, dimension,
semantic model and measure label (``{zh-CN: 退款率, en: Refund rate}``), metric synonyms and
identifiers — plus a small base vocabulary of incident words (回滚 ↔ rollback, 超时 ↔ timeout):

- **phrases**: the names of one thing are interchangeable as a whole: a query containing
  支付成功率 (or "payment success rate", or the synonym 支付成功比例) is expanded with the
  words of all of them;
- **words**: single words are aligned across the parallel labels by elimination, to a fixed
  point: a label pair whose other words are already explained leaves one Chinese word and one
  English word, which must be each other's translation. ``支付 / Payments`` links 支付 ↔
  payment; then ``支付方式 / Payment method`` leaves 方式 ↔ method; ``订单金额 / Order amount``
  and ``退款金额 / Refund amount`` give 金额 ↔ amount and then 退款 ↔ refund.

Query terms keep weight 1; terms added by the glossary weigh :data:`EXPANDED` (a review in the
query's own words ranks first). English words are compared by a light stem (:func:`stem`:
payments → payment, refunded → refund, deliveries → delivery).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metricloop.catalog.catalog import Catalog

EXPANDED = 0.6  # weight of a glossary term relative to a term the user typed
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ALPHA = re.compile(r"^[a-z]+$")

# Incident words reviews use whatever the catalog is (causes and fixes, not metric names).
BASE_TERMS: tuple[tuple[str, str], ...] = (
    ("故障", "failure"), ("故障", "outage"), ("宕机", "outage"), ("回滚", "rollback"), ("回滚", "roll back"),
    ("发布", "release"), ("上线", "deploy"), ("版本", "version"), ("超时", "timeout"), ("证书", "certificate"),
    ("网关", "gateway"), ("崩溃", "crash"), ("库存", "inventory"), ("库存", "stock"), ("缺货", "out of stock"),
    ("促销", "promotion"), ("大促", "sale"), ("配置", "configuration"), ("配置", "config"), ("接口", "api"),
    ("延迟", "latency"), ("延迟", "delay"), ("下降", "drop"), ("下跌", "decline"), ("上涨", "increase"),
    ("异常", "anomaly"), ("扩容", "scale out"), ("降级", "fallback"), ("回调", "callback"), ("缓存", "cache"),
    ("数据库", "database"), ("服务器", "server"), ("物流", "logistics"), ("快递", "courier"), ("退货", "return"),
    ("优惠券", "coupon"), ("价格", "price"), ("商家", "merchant"), ("用户", "user"), ("风控", "risk control"),
    ("爬虫", "crawler"), ("机器人", "bot"), ("节假日", "holiday"), ("天气", "weather"), ("渠道", "channel"),
)
_STOP_EN = "the a an of to in on and or is was for by with at from as be per over"
_STOP_ZH = "的 了 和 是 在 与 及 对 把 被 也 就 都 而 或 等 之 其 为 从 到 已"
_STOP = frozenset(_STOP_EN.split()) | frozenset(_STOP_ZH.split())


def stem(word: str) -> str:
    """A light English stem, idempotent, for matching only: plural and past forms of words."""
    w = word.lower()
    if len(w) <= 3 or not _ALPHA.match(w):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    if w.endswith("ed") and len(w) > 4 and not w.endswith("eed"):
        return w[:-2]
    return w


def _jieba() -> Any:
    """jieba, imported on first use (a slow import that only Chinese text needs)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _zh_words(text: str) -> list[str]:
    return [w for w in (x.strip().lower() for x in _jieba().lcut(text)) if w and w not in _STOP]


def _en_words(text: str) -> list[str]:
    return [stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]


def words_of(text: str) -> tuple[str, ...]:
    """The words of a name in either language (Chinese segmented, English stemmed)."""
    out: list[str] = []
    for part in re.split(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)", text.replace("_", " ")):
        out += _zh_words(part) if part and _CJK.match(part) else _en_words(part)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Glossary:
    """``words``: a word → its equivalents; ``phrases``: groups of interchangeable names (each
    name as its words)."""

    words: Mapping[str, frozenset[str]] = field(default_factory=dict)
    phrases: Sequence[tuple[tuple[str, ...], ...]] = ()

    def expand(self, terms: Iterable[str]) -> dict[str, float]:
        """Query terms (weight 1) and what the glossary adds (weight :data:`EXPANDED`)."""
        given = [stem(t) for t in terms]
        out = dict.fromkeys(given, 1.0)
        have = set(given)
        added: list[str] = []
        for t in given:
            added += self.words.get(t, ())
        for group in self.phrases:
            if any(name and set(name) <= have for name in group):
                added += [w for name in group for w in name]
        for w in added:
            out.setdefault(w, EXPANDED)
        return out

    def translations(self, word: str) -> list[str]:
        """What ``word`` is linked to (for tests and for explaining a match)."""
        return sorted(self.words.get(stem(word), ()))


def align(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Word links ``zh ↔ en`` from parallel names, by elimination to a fixed point (see the
    module docstring). Words spelled the same on both sides (GMV, 7) explain each other."""
    split = []
    for zh, en in pairs:
        z, e = list(words_of(zh)), list(words_of(en))
        same = set(z) & set(e)
        split.append(([w for w in z if w not in same], [w for w in e if w not in same]))
    links: dict[str, set[str]] = {}
    changed = True
    while changed:
        changed = False
        for z, e in split:
            z_rest = [w for w in z if w not in links]
            e_rest = [w for w in e if w not in links]
            # one word left on each side; or one left on a side whose counterpart is one word
            # already linked elsewhere (订单 / Orders after 订单数 / Orders): a synonym of it
            if len(z_rest) == 1 and (len(e_rest) == 1 or (not e_rest and len(e) == 1)):
                pair = (z_rest[0], e_rest[0] if e_rest else e[0])
            elif len(e_rest) == 1 and not z_rest and len(z) == 1:
                pair = (z[0], e_rest[0])
            else:
                continue
            a, b = pair
            if b not in links.get(a, ()):
                links.setdefault(a, set()).add(b)
                links.setdefault(b, set()).add(a)
                changed = True
    return links


def build(names: Iterable[Sequence[str]], pairs: Iterable[tuple[str, str]]) -> Glossary:
    """A glossary from groups of names of one thing and from parallel (zh, en) names."""
    links = align(pairs)
    for zh, en in BASE_TERMS:  # the base vocabulary is known, not inferred: word to word as written
        z, e = words_of(zh), words_of(en)
        if len(z) == 1 and len(e) == 1:
            links.setdefault(z[0], set()).add(e[0])
            links.setdefault(e[0], set()).add(z[0])
    phrases = []
    for group in names:
        words = tuple(dict.fromkeys(w for w in (words_of(n) for n in group) if w))
        if len(words) > 1:
            phrases.append(words)
    for zh, en in BASE_TERMS:  # the base vocabulary is used whole as well ("roll back", "scale out")
        phrases.append((words_of(zh), words_of(en)))
    return Glossary({k: frozenset(v) for k, v in links.items()}, phrases)


def from_catalog(catalog: Catalog) -> Glossary:
    """The project's glossary: metric, semantic model, dimension and measure names and labels."""
    names: list[list[str]] = []
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, ...]] = set()

    def add(identifier: str, label: object, synonyms: Sequence[str] = ()) -> None:
        zh, en = getattr(label, "zh_cn", None), getattr(label, "en", None)
        group = [identifier, *(x for x in (zh, en) if x), *synonyms]
        if tuple(group) not in seen:
            seen.add(tuple(group))
            names.append(group)
        if zh and en:
            pairs.append((zh, en))

    for m in catalog.metrics.values():
        add(m.name, m.label, m.synonyms)
    for model in catalog.semantic_models.values():
        add(model.name, model.label)
        for d in model.dimensions:
            add(d.name, d.label, d.synonyms)
        for me in model.measures:
            add(me.name, me.label)
    return build(names, pairs)
