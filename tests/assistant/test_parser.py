"""Offline understanding on the demo catalog (no warehouse: the value index is given), and the
question set: its size and languages, its expected requests valid against the catalog, and the
parser's accuracy on it (what `metricloop bench ask` reports, without the timing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from metricloop.assistant import bench
from metricloop.assistant.parser import Parser
from metricloop.assistant.request import AskRequest, validate
from metricloop.assistant.timephrases import find_times
from metricloop.assistant.vocab import build
from metricloop.catalog.catalog import Catalog, load_catalog
from metricloop.scaffold import DEMO_TEMPLATE

NOW = dt.datetime(2026, 9, 30, 23, 58)
VALUES = {"region": ["华东", "华北", "华南", "华中", "西南", "西北", "东北"],
          "province": ["浙江", "江苏", "上海", "广东", "北京"], "channel": ["app", "web", "store", "mini_program"],
          "category": ["美妆", "服饰"], "payment_method": ["alipay", "wechat_pay", "credit_card", "unionpay"],
          "buyer_type": ["new", "returning"], "carrier": ["顺丰", "EMS"]}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(DEMO_TEMPLATE)


@pytest.fixture(scope="module")
def parser(catalog: Catalog) -> Parser:
    return Parser(build(catalog, VALUES), polarity={m.name: m.polarity.value for m in catalog.metrics.values()})


def ask(parser: Parser, q: str) -> dict[str, Any]:
    u = parser.parse(q, NOW)
    assert u.request is not None and not u.clarify, (q, u.clarify)
    return {k: v for k, v in u.request.interpretation().items() if v not in (None, [])} | {"intent": u.request.intent}


@pytest.mark.parametrize(("text", "start", "end"), [
    ("上周", "2026-09-21", "2026-09-27"), ("本周", "2026-09-28", "2026-09-30"), ("昨天", "2026-09-29", "2026-09-29"),
    ("前天", "2026-09-28", "2026-09-28"), ("上月", "2026-08-01", "2026-08-31"), ("近7天", "2026-09-24", "2026-09-30"),
    ("最近30天", "2026-09-01", "2026-09-30"), ("今年", "2026-01-01", "2026-09-30"),
    ("三季度", "2026-07-01", "2026-09-30"),
    ("Q4", "2025-10-01", "2025-12-31"), ("3月", "2026-03-01", "2026-03-31"), ("双11", "2025-11-11", "2025-11-11"),
    ("618", "2026-06-18", "2026-06-18"), ("春节", "2026-02-16", "2026-02-22"),
    ("last week", "2026-09-21", "2026-09-27"),
    ("past 30 days", "2026-09-01", "2026-09-30"), ("Q3 2025", "2025-07-01", "2025-09-30"),
    ("from sep 1 to sep 15", "2026-09-01", "2026-09-15"), ("2026-09-15", "2026-09-15", "2026-09-15"),
])
def test_time_phrases(text: str, start: str, end: str) -> None:
    found = find_times(text.lower(), NOW)
    assert [(m.start.isoformat(), m.end.isoformat()) for m in found] == [(start, end)]


def test_the_issue_example(parser: Parser) -> None:
    assert ask(parser, "上周华东的GMV为什么下降了？") == {
        "intent": "why", "metrics": ["gmv"], "where": "region = '华东'", "start": "2026-09-21", "end": "2026-09-27",
        "compare": "previous_period"}


def test_filters_negation_and_the_net_metric(parser: Parser) -> None:
    assert ask(parser, "华东除了app和web的订单量")["where"] == "region = '华东' and channel not in ('app', 'web')"
    assert ask(parser, "不含退款的成交额")["metrics"] == ["net_gmv"]  # the catalog's gmv - refund_amount
    assert ask(parser, "app 渠道的成交额")["where"] == "channel = 'app'"
    assert ask(parser, "GMV in East China")["where"] == "region = '华东'"


def test_rankings_follow_words_and_polarity(parser: Parser) -> None:
    top = ask(parser, "top 5 provinces by gmv last month")
    assert (top["intent"], top["by"], top["order"], top["limit"]) == ("rank", ["province"], "-gmv", 5)
    worst = ask(parser, "退款率最差的渠道")  # lower is better: the worst is the highest
    assert (worst["order"], worst["limit"]) == ("-refund_rate", 1)


def test_two_meanings_ask_back_instead_of_guessing(catalog: Catalog) -> None:
    vocab = build(catalog, {**VALUES, "province": ["华东"]})  # a value of two dimensions of gmv
    u = Parser(vocab).parse("华东的成交额", NOW)
    assert u.clarify and u.clarify[0]["field"] == "value"
    assert {o["value"] for o in u.clarify[0]["options"]} == {"region = '华东'", "province = '华东'"}
    vocab.add("营收", "metric", "gmv")
    vocab.add("营收", "metric", "net_gmv")
    vocab.compile()
    u = Parser(vocab).parse("上周营收", NOW)
    assert u.clarify and {o["value"] for o in u.clarify[0]["options"]} == {"gmv", "net_gmv"}
    assert Parser(vocab).parse("华东上周怎么样", NOW).clarify  # no metric at all


def test_a_typo_still_finds_the_metric(parser: Parser) -> None:
    assert ask(parser, "convertion rate by channel")["metrics"] == ["conversion_rate"]
    assert ask(parser, "成交颜上周多少")["metrics"] == ["gmv"]


def test_the_question_set_is_large_bilingual_and_valid(catalog: Catalog) -> None:
    items = [q for name in bench.SETS for q in bench.load_set(name)[1]]
    assert len(items) >= 300
    zh = sum(1 for q in items if q["lang"] == "zh-CN")
    assert abs(zh - (len(items) - zh)) <= 2
    for q in items:
        if not q.get("clarify"):
            validate(catalog, AskRequest.model_validate(bench.expected_request(q)))


def test_accuracy_on_the_question_set(parser: Parser) -> None:
    outcomes = bench.run(lambda q, now: parser.parse(q, now))
    totals = bench.summary(outcomes)["totals"]
    assert totals["design"]["exact"] >= 0.95, [o.question for o in outcomes if o.set == "design" and not o.exact]
    assert totals["design"]["silently_dropped"] == 0
    assert totals["heldout"]["exact"] >= 0.85
