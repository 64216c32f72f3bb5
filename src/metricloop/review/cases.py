"""The case library: full-text search over completed reviews in Chinese and English, and the past
cases most similar to a new incident.

Chinese has no spaces, so words come from jieba's search-mode segmentation (``支付成功率`` →
``支付 成功 成功率 支付成功率``); English and identifiers are lower-cased words. Ranking is
Okapi BM25 over those tokens, computed in Python so it behaves the same on SQLite and
PostgreSQL (the library holds hundreds to thousands of reviews, not millions). English words are
compared by a light stem, and a query is expanded across languages with the project's
:mod:`~metricloop.review.glossary` (退款 finds "refund", "payment" finds 支付).

Similarity of a past case to an incident: same metric, overlap of slices (``region=华东``),
overlap of cause keys from cause analysis, and BM25 on the causes' text — weighted and summed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from metricloop.review.glossary import Glossary, _jieba, stem

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9_]+(?:[.=][a-z0-9_\u4e00-\u9fff]+)*")
_STOP_EN = "the a an of to in on and or is was for by with at from as be it this that were are"
_STOP_ZH = "的 了 和 是 在 与 及 对 把 被 也 就 都 而 及其 或 等 之 其 为 从 到"
STOP = frozenset(_STOP_EN.split()) | frozenset(_STOP_ZH.split())
K1, B = 1.2, 0.75
WEIGHTS = {"metric": 3.0, "slice": 2.0, "cause": 2.0, "text": 1.0}


@lru_cache(maxsize=1)
def tokenize(text: str) -> list[str]:
    """Search tokens of mixed Chinese/English text."""
    out: list[str] = []
    lowered = text.lower()
    pos = 0
    for m in _CJK.finditer(lowered):
        out += _WORD.findall(lowered[pos : m.start()])
        out += [w for w in _jieba().lcut_for_search(m.group()) if w.strip()]
        pos = m.end()
    out += _WORD.findall(lowered[pos:])
    return [t for t in out if t not in STOP]


@dataclass
class Doc:
    id: int
    terms: list[str]
    metric: str = ""
    slice: Mapping[str, str] = field(default_factory=dict)
    cause_keys: Sequence[str] = ()
    payload: dict[str, Any] = field(default_factory=dict)


class Bm25:
    """Okapi BM25 over a fixed set of documents."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.docs = docs
        self.tf = [Counter(d.terms) for d in docs]
        self.len = [len(d.terms) for d in docs]
        self.avg = (sum(self.len) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for c in self.tf:
            df.update(c.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: Iterable[str] | Mapping[str, float]) -> list[float]:
        """BM25 of every document; a mapping gives each query term a weight (glossary terms)."""
        q = dict(query) if isinstance(query, Mapping) else dict.fromkeys(query, 1.0)
        out = []
        for tf, ln in zip(self.tf, self.len, strict=True):
            s = 0.0
            for t, w in q.items():
                f = tf.get(t, 0)
                if f:
                    s += w * self.idf[t] * f * (K1 + 1) / (f + K1 * (1 - B + B * ln / (self.avg or 1)))
            out.append(s)
        return out


def query_terms(text: str, glossary: Glossary | None = None) -> dict[str, float]:
    """Weighted search terms of ``text``: its own (English stemmed, like the indexed documents'
    terms) and, with a glossary, their equivalents in the other language."""
    terms = tokenize(text)
    return glossary.expand(terms) if glossary is not None else dict.fromkeys((stem(t) for t in terms), 1.0)


def search(docs: Sequence[Doc], query: str, limit: int = 20, glossary: Glossary | None = None,
           ) -> list[tuple[Doc, float]]:
    """Documents matching ``query`` (any language), best first; zero-score ones are left out.
    Document terms are expected stemmed (:func:`~metricloop.review.glossary.stem`)."""
    terms = query_terms(query, glossary)
    if not terms or not docs:
        return []
    scores = Bm25(docs).scores(terms)
    ranked = sorted(((d, s) for d, s in zip(docs, scores, strict=True) if s > 0), key=lambda x: -x[1])
    return ranked[:limit]


def _jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def slice_keys(sl: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(sl.items())]


@dataclass(frozen=True)
class Similar:
    doc: Doc
    score: float
    parts: dict[str, float]


def similar(
    docs: Sequence[Doc], metric: str, slice_: Mapping[str, str], cause_keys: Sequence[str], cause_text: str,
    limit: int = 5, glossary: Glossary | None = None,
) -> list[Similar]:
    """Past cases ranked by likeness to an incident (metric, slice, cause keys, cause text in
    either language when a glossary is given)."""
    if not docs:
        return []
    text_scores = Bm25(docs).scores(query_terms(cause_text, glossary)) if cause_text.strip() else [0.0] * len(docs)
    top = max(text_scores) or 1.0
    mine = slice_keys(slice_)
    out = []
    for d, ts in zip(docs, text_scores, strict=True):
        parts = {
            "metric": 1.0 if d.metric == metric else 0.0,
            "slice": _jaccard(mine, slice_keys(d.slice)),
            "cause": _jaccard(cause_keys, d.cause_keys),
            "text": ts / top,
        }
        score = sum(WEIGHTS[k] * v for k, v in parts.items())
        if score > 0:
            out.append(Similar(d, score, parts))
    out.sort(key=lambda x: -x.score)
    return out[:limit]


_KV = re.compile(r"([A-Za-z_][\w]*)\s*=\s*([^\s,;，；)）]+)")


def cause_keys_of(explanation: Mapping[str, Any] | None, slice_: Mapping[str, str]) -> list[str]:
    """``dim=value`` keys naming where the cause was (the incident's slice, the explanation's
    ``keys``/``slices`` if it has them, and ``dim=value`` written in the cause texts)."""
    keys = set(slice_keys(slice_))
    if explanation:
        for k in explanation.get("keys") or []:
            keys.add(str(k))
        for sl in explanation.get("slices") or []:
            if isinstance(sl, Mapping):
                keys.update(slice_keys({str(k): str(v) for k, v in sl.items()}))
        for c in explanation.get("causes") or []:
            texts = c.values() if isinstance(c, Mapping) else [c]
            for t in texts:
                keys.update(f"{k}={v}" for k, v in _KV.findall(str(t)))
    return sorted(keys)
