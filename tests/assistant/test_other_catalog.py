"""The assistant knows nothing of the demo company: on another company's catalog (a SaaS
business with MRR and churn, in a temporary project) the same parser understands questions
from that catalog's names, labels, synonyms and values, and asks back where they collide."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from metricloop.assistant.parser import Parser
from metricloop.assistant.vocab import build
from metricloop.catalog.catalog import load_catalog

NOW = dt.datetime(2026, 9, 30, 12, 0)
MODELS = textwrap.dedent("""\
    semantic_models:
      - name: accounts
        table: account_days
        defaults: {agg_time_dimension: day}
        dimensions:
          - {name: day, type: time, type_params: {time_granularity: day}}
          - {name: plan, type: categorical, label: {zh-CN: 套餐, en: Plan}}
          - {name: country, type: categorical, label: {zh-CN: 国家, en: Country}, synonyms: [market, 市场]}
          - {name: segment, type: categorical, label: {zh-CN: 客户分层, en: Segment}}
        measures:
          - {name: mrr_total, agg: sum, expr: mrr}
          - {name: churned, agg: sum_boolean, expr: churned}
          - {name: active, agg: count_distinct, expr: account_id}
    metrics:
      - {name: mrr, measure: mrr_total, label: {zh-CN: 月经常性收入, en: MRR},
         synonyms: [经常性收入, recurring revenue], tier: north_star, unit: "currency:USD"}
      - {name: churned_accounts, measure: churned, label: {zh-CN: 流失客户数, en: Churned accounts}}
      - {name: active_accounts, measure: active, label: {zh-CN: 活跃客户数, en: Active accounts}}
      - {name: churn_rate, type: ratio, numerator: churned_accounts, denominator: active_accounts,
         label: {zh-CN: 流失率, en: Churn rate}, polarity: lower_is_better, synonyms: [churn]}
    """)
VALUES = {"plan": ["free", "pro", "enterprise"], "country": ["美国", "德国", "日本"],
          "segment": ["smb", "mid_market", "enterprise"]}


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Parser:
    root: Path = tmp_path_factory.mktemp("saas")
    (root / "models").mkdir()
    (root / "models" / "accounts.yaml").write_text(MODELS, encoding="utf-8")
    catalog = load_catalog(root)
    return Parser(build(catalog, VALUES), polarity={m.name: m.polarity.value for m in catalog.metrics.values()})


def ask(parser: Parser, q: str) -> dict[str, Any]:
    u = parser.parse(q, NOW)
    assert u.request is not None and not u.clarify, (q, u.clarify)
    return {k: v for k, v in u.request.interpretation().items() if v not in (None, [])} | {"intent": u.request.intent}


@pytest.mark.parametrize(("question", "expected"), [
    ("上个月美国的MRR", {"intent": "query", "metrics": ["mrr"], "where": "country = '美国'",
                          "start": "2026-08-01", "end": "2026-08-31"}),
    ("churn rate by plan in Q2", {"intent": "query", "metrics": ["churn_rate"], "by": ["plan"],
                                  "start": "2026-04-01", "end": "2026-06-30"}),
    ("哪个市场流失率最高", {"intent": "rank", "metrics": ["churn_rate"], "by": ["country"], "order": "-churn_rate",
                      "limit": 1, "start": "2026-09-24", "end": "2026-09-30"}),
    ("流失率最差的套餐", {"intent": "rank", "metrics": ["churn_rate"], "by": ["plan"], "order": "-churn_rate",
                    "limit": 1, "start": "2026-09-24", "end": "2026-09-30"}),
    ("why did recurring revenue drop last week for pro", {
        "intent": "why", "metrics": ["mrr"], "where": "plan = 'pro'", "start": "2026-09-21", "end": "2026-09-27",
        "compare": "previous_period"}),
    ("近30天MRR趋势", {"intent": "trend", "metrics": ["mrr"], "grain": "day", "start": "2026-09-01",
                    "end": "2026-09-30"}),
    ("what does churn mean", {"intent": "define", "metrics": ["churn_rate"]}),
    ("mid market active accounts excluding 日本 this month", {
        "intent": "query", "metrics": ["active_accounts"], "where": "segment = 'mid_market' and country != '日本'",
        "start": "2026-09-01", "end": "2026-09-30"}),
])
def test_another_catalog(parser: Parser, question: str, expected: dict[str, Any]) -> None:
    assert ask(parser, question) == expected


def test_a_value_of_two_dimensions_is_asked_back(parser: Parser) -> None:
    u = parser.parse("enterprise 的活跃客户数", NOW)
    assert u.clarify and {o["value"] for o in u.clarify[0]["options"]} == {"plan = 'enterprise'",
                                                                           "segment = 'enterprise'"}
