"""``metricloop bench ask``: how well the assistant understands the question set.

Per question: the structured request is compared field by field with the expected one (the
filter as a set of predicates, so ``a and b`` equals ``b and a``); a question expected to be
asked back counts as right when the answer asks back. Reported per set (design, held-out),
language and intent: exact-match accuracy, the clarification rate, the answers that silently
drop a filter or a time range the question asked for (no clarification, and the dimension or
the time is missing from the request), and the median time of a whole answer (understanding +
queries) offline.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from metricloop.assistant.parser import Understanding
from metricloop.assistant.request import AskRequest
from metricloop.engine.filters import And, parse_filter

SETS = ("design", "heldout", "fresh")
FIELDS = ("intent", "metrics", "by", "where", "start", "end", "grain", "compare", "order", "limit")


def load_set(name: str) -> tuple[dt.datetime, list[dict[str, Any]]]:
    """A question set shipped with the package (``assistant/questions/<name>.yaml``)."""
    text = resources.files("metricloop.assistant").joinpath("questions", f"{name}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    now = data["now"]
    return (now if isinstance(now, dt.datetime) else dt.datetime.fromisoformat(str(now))), data["questions"]


def _conjuncts(where: str | None) -> frozenset[Any]:
    if not where:
        return frozenset()
    root = parse_filter(where).root
    return frozenset(root.items) if isinstance(root, And) else frozenset([root])


def _dims(where: str | None) -> set[str]:
    return parse_filter(where).identifiers() if where else set()


def expected_request(item: dict[str, Any]) -> dict[str, Any]:
    return {"intent": item.get("intent"), "metrics": list(item.get("metrics") or []), "by": list(item.get("by") or []),
            "where": item.get("where"), "start": item.get("start"), "end": item.get("end"),
            "grain": item.get("grain"), "compare": item.get("compare"), "order": item.get("order"),
            "limit": item.get("limit")}


def differences(expected: dict[str, Any], got: AskRequest) -> list[str]:
    """The fields where ``got`` differs from ``expected`` (empty: an exact match)."""
    out: list[str] = []
    for f in FIELDS:
        want, have = expected[f], getattr(got, f)
        if f == "where":
            same = _conjuncts(want) == _conjuncts(have)
        elif f in ("start", "end"):
            same = (want.isoformat() if isinstance(want, dt.date) else want) == \
                (have.isoformat() if have is not None else None)
        else:
            same = want == have
        if not same:
            out.append(f)
    return out


@dataclass
class Outcome:
    set: str
    lang: str
    intent: str
    question: str
    exact: bool
    clarified: bool
    dropped: list[str] = field(default_factory=list)  # asked but not applied, and not flagged either
    flagged: list[str] = field(default_factory=list)  # words the answer says it did not understand
    wrong: list[str] = field(default_factory=list)
    millis: float = 0.0
    got: dict[str, Any] | None = None


def judge(set_name: str, item: dict[str, Any], u: Understanding) -> Outcome:
    """One question's outcome (exactness, clarification, silently dropped filter or time)."""
    intent = "clarify" if item.get("clarify") else str(item["intent"])
    clarified = bool(u.clarify) or u.request is None
    got = u.request.interpretation() | {"intent": u.request.intent} if u.request else None
    if item.get("clarify"):
        return Outcome(set_name, item["lang"], intent, item["q"], clarified, clarified, got=got)
    if clarified or u.request is None:
        return Outcome(set_name, item["lang"], intent, item["q"], False, True, wrong=["clarified"], got=got)
    exp = expected_request(item)
    wrong = differences(exp, u.request)
    dropped: list[str] = []
    missing = _dims(exp["where"]) - _dims(u.request.where) - set(u.request.by)
    if missing:
        dropped.append("filter:" + ",".join(sorted(missing)))
    asked = u.request.start, u.request.end
    if exp["start"] is not None and ("time" in u.defaulted or u.request.start is None) \
            and (exp["start"], exp["end"]) != asked:
        dropped.append("time")  # the question named a time; the answer used the default instead
    if u.unknown:  # the answer names what it did not understand: not silent
        dropped = []
    return Outcome(set_name, item["lang"], intent, item["q"], not wrong, False, dropped, list(u.unknown), wrong,
                   got=got)


def run(understand: Callable[[str, dt.datetime], Understanding],
        answer: Callable[[str, dt.datetime], Any] | None = None, sets: tuple[str, ...] = SETS) -> list[Outcome]:
    """Judge every question of ``sets``; ``answer`` (optional) is timed on each question too."""
    outcomes: list[Outcome] = []
    for name in sets:
        now, items = load_set(name)
        for item in items:
            u = understand(item["q"], now)
            o = judge(name, item, u)
            if answer is not None:
                t0 = time.perf_counter()
                answer(item["q"], now)
                o.millis = (time.perf_counter() - t0) * 1000
            outcomes.append(o)
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """Rows per set × language × intent, and the totals the goals are stated on."""
    rows: list[dict[str, Any]] = []
    keys = sorted({(o.set, o.lang, o.intent) for o in outcomes})
    for s, lang, intent in keys:
        group = [o for o in outcomes if (o.set, o.lang, o.intent) == (s, lang, intent)]
        exact = sum(o.exact for o in group)
        rows.append({"set": s, "lang": lang, "intent": intent, "questions": len(group), "exact": exact,
                     "accuracy": round(exact / len(group), 3)})
    totals: dict[str, Any] = {}
    for s in [*sorted({o.set for o in outcomes}), "all"]:
        group = [o for o in outcomes if s in ("all", o.set)]
        per_intent = {}
        for intent in sorted({o.intent for o in group}):
            g = [o for o in group if o.intent == intent]
            per_intent[intent] = round(sum(o.exact for o in g) / len(g), 3)
        per_lang = {lang: round(sum(o.exact for o in group if o.lang == lang)
                                / max(1, sum(1 for o in group if o.lang == lang)), 3)
                    for lang in sorted({o.lang for o in group})}
        timed = [o.millis for o in group if o.millis]
        totals[s] = {"questions": len(group), "exact": round(sum(o.exact for o in group) / len(group), 3),
                     "per_language": per_lang, "per_intent": per_intent,
                     "min_intent": min(per_intent.values()) if per_intent else None,
                     "clarification_rate": round(sum(o.clarified for o in group) / len(group), 3),
                     "silently_dropped": sum(1 for o in group if o.dropped),
                     "flagged_unknown": sum(1 for o in group if o.flagged),
                     "median_ms": round(statistics.median(timed), 1) if timed else None,
                     "p90_ms": round(sorted(timed)[int(len(timed) * 0.9) - 1], 1) if timed else None}
    return {"rows": rows, "totals": totals}
