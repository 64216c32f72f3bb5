"""Reviews on a real store: verification closes or re-opens the incident, a review cannot be
completed with an empty required section, the case library is searchable in Chinese and English,
similar past cases come ranked with what was done and whether it worked, and the loop-health
figures and weekly report follow from what happened."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from metricloop.errors import ConflictError
from metricloop.service import MetricLoop
from tests.workflow.conftest import T0, alert

H = dt.timedelta(hours=1)


def series(share: float) -> tuple[list[dt.datetime], np.ndarray, np.ndarray]:
    """48 hours from 24 h before the incident; the incident starts at T0 and is fixed at T0+6h."""
    rng = np.random.default_rng(0)
    ts = [T0 - 24 * H + i * H for i in range(48)]
    expected = 0.95 + 0.01 * np.sin(np.arange(48) / 24 * 2 * np.pi)
    actual = expected + rng.normal(0, 0.005, 48)
    actual[24:30] -= 0.6
    actual[30:] -= 0.6 * (1 - share)
    return ts, actual, expected


def resolved_incident(ml: MetricLoop, fp: str, metric: str, slice_: dict[str, str], causes: list[str],
                      start: dt.datetime = T0) -> str:
    rep = ml.workflow.process([alert(fp, metric, slice_, start=start, causes=causes)], now=start)
    ref = f"INC-{rep.opened[0]}"
    ml.workflow.act(ref, "ack", actor="chen.jie", now=start + H)
    return ref


def test_verified_recovery_closes_the_incident_and_a_failed_fix_reopens_it(ml: MetricLoop) -> None:
    ref = resolved_incident(ml, "p1", "payment_success_rate", {"province": "广东"}, ["微信支付回调超时"])
    item = ml.workflow.add_action(ref, "回滚网关证书", actor="chen.jie", due=T0 + 8 * H, now=T0 + H)
    ml.workflow.act(ref, "resolve", actor="chen.jie", now=T0 + 7 * H, comment="证书已回滚")
    ts, actual, expected = series(0.0)
    out = ml.review.verify(ref, actual, expected, ts, T0 + 6 * H, action_id=item["id"], now=T0 + 24 * H)
    assert out["verdict"] == "not_recovered" and out["incident_status"] == "investigating"
    ml.workflow.act(ref, "resolve", actor="chen.jie", now=T0 + 25 * H, comment="扩容")
    ts, actual, expected = series(1.0)
    out = ml.review.verify(ref, actual, expected, ts, T0 + 6 * H, action_id=item["id"], now=T0 + 26 * H)
    assert out["verdict"] == "recovered" and out["incident_status"] == "closed"
    assert out["recovery"] == pytest.approx(1.0, abs=0.05)
    timers = {t["kind"]: t["state"] for t in ml.workflow.incident(ref)["timers"]}
    assert timers["review_due"] == "pending"


def test_review_cannot_complete_while_a_required_section_is_empty(ml: MetricLoop) -> None:
    ref = resolved_incident(ml, "p1", "payment_success_rate", {"province": "广东"}, ["微信支付回调超时"])
    ml.workflow.add_action(ref, "回滚网关证书", actor="chen.jie", now=T0 + H)
    ml.workflow.act(ref, "resolve", actor="chen.jie", now=T0 + 2 * H, comment="回滚")
    d = ml.review.draft(ref, now=T0 + 3 * H)
    assert d["missing"] == ["summary", "root_cause", "lessons"]  # impact, timeline, actions are drafted
    assert "支付成功率" in d["sections"]["impact"]["text"] and "广东" in d["sections"]["impact"]["text"]
    assert "陈杰" in d["sections"]["timeline"]["text"]  # people by name (owners.yaml), not by id
    assert d["sections"]["root_cause"]["data"]["suggested"] == ["微信支付回调超时"]
    with pytest.raises(ConflictError) as e:
        ml.review.complete(ref, actor="chen.jie", now=T0 + 3 * H)
    assert "summary, root_cause, lessons" in e.value.message and e.value.message_zh
    ml.review.edit(ref, "summary", "广东微信支付失败 5 小时", actor="chen.jie")
    ml.review.edit(ref, "root_cause", "网关证书轮换后回调校验失败", actor="chen.jie")
    ml.review.edit(ref, "lessons", "证书轮换前做灰度", actor="chen.jie")
    done = ml.review.complete(ref, actor="chen.jie", now=T0 + 4 * H)
    assert done["status"] == "completed" and done["missing"] == []
    with pytest.raises(ConflictError):
        ml.review.edit(ref, "lessons", "改写", actor="chen.jie")
    assert [e["kind"] for e in ml.workflow.incident(ref)["audit"]].count("review") == 4


def complete(ml: MetricLoop, ref: str, summary: str, cause: str, lessons: str, action: str, share: float) -> None:
    item = ml.workflow.add_action(ref, action, actor="x", now=T0 + H)
    ml.workflow.act(ref, "resolve", actor="x", now=T0 + 2 * H, comment=action)
    ts, actual, expected = series(share)
    ml.review.verify(ref, actual, expected, ts, T0 + 6 * H, action_id=item["id"], now=T0 + 30 * H, close=False)
    for sec, text in (("summary", summary), ("root_cause", cause), ("lessons", lessons)):
        ml.review.edit(ref, sec, text, actor="x")
    ml.review.complete(ref, actor="x")


def test_case_library_search_in_chinese_and_english_and_similar_cases(ml: MetricLoop) -> None:
    a = resolved_incident(ml, "p1", "payment_success_rate", {"province": "广东", "payment_method": "wechat_pay"},
                          ["微信支付回调超时 payment_method=wechat_pay"])
    complete(ml, a, "广东微信支付大面积失败", "支付网关证书轮换导致回调超时 (gateway certificate rotation)",
             "证书轮换先灰度", "回滚网关证书", 1.0)
    b = resolved_incident(ml, "o1", "orders", {"channel": "app"}, ["App 新版本启动崩溃"], start=T0 + 72 * H)
    complete(ml, b, "App 崩溃导致订单下跌", "Android release crashed on start-up", "发布前做崩溃率门禁",
             "回滚 App 版本", 0.5)
    assert [r["incident"] for r in ml.review.search("证书")] == [a]
    assert [r["incident"] for r in ml.review.search("certificate rotation")] == [a]
    assert [r["incident"] for r in ml.review.search("崩溃")] == [b]
    assert ml.review.search("库存") == []
    hit = ml.review.search("支付成功率")[0]
    assert hit["verdict"] == "recovered" and hit["actions"][0]["title"] == "回滚网关证书"

    new = resolved_incident(ml, "p9", "payment_success_rate", {"province": "广东", "payment_method": "wechat_pay"},
                            ["微信支付回调超时 payment_method=wechat_pay"], start=T0 + 200 * H)
    sims = ml.review.similar(new)
    assert [s["incident"] for s in sims] == [a, b][: len(sims)] and sims[0]["incident"] == a
    assert sims[0]["why"]["metric"] == 1.0 and sims[0]["why"]["slice"] == 1.0
    assert sims[0]["actions"] == [{"title": "回滚网关证书", "verdict": "recovered"}]


def test_loop_health_and_weekly_report(ml: MetricLoop) -> None:
    monday = dt.datetime(2026, 4, 13, 1, tzinfo=dt.UTC)
    r1 = ml.workflow.process([alert("a", "gmv", start=monday - 2 * H, severity="high")], now=monday)
    ml.workflow.act(r1.opened[0], "ack", actor="wang.fang", now=monday + 20 * dt.timedelta(minutes=1))
    ml.workflow.act(r1.opened[0], "resolve", actor="wang.fang", now=monday + 2 * H, comment="修复")
    r2 = ml.workflow.process([alert("b", "gmv", start=monday + 46 * H, severity="high")], now=monday + 48 * H)
    ml.workflow.act(r2.opened[0], "ack", actor="wang.fang", now=monday + 49 * H)  # 60 min: SLA is 30
    ml.workflow.add_action(r2.opened[0], "补货", actor="wang.fang", due=monday + 50 * H, now=monday + 49 * H)
    h = ml.review.health(now=monday + 72 * H)
    o = h["overall"]
    assert (o["incidents"], o["mttd_min"], o["mtta_min"], o["mttr_min"]) == (2, 120.0, 40.0, 120.0)
    assert (o["ack_within_sla"], o["closure_rate"], o["overdue_actions"], o["repeats"]) == (0.5, 0.0, 1, 1)
    assert h["by_team"]["trade"]["incidents"] == 2 and h["repeats_by_metric"] == {"gmv": 1}
    rep = ml.review.weekly_report(week_of=dt.date(2026, 4, 15), now=monday + 7 * 24 * H)
    assert rep.title == "指标闭环周报 2026-04-13 – 2026-04-19"
    assert "| 平均响应时长（分钟） | 40.0 |" in rep.markdown and "成交额" in rep.markdown
    assert rep.html.count("<svg") == 2 and "<script" not in rep.html
    en = ml.review.weekly_report(week_of=dt.date(2026, 4, 15), now=monday + 7 * 24 * H, locale="en")
    assert "| MTTA (min) | 40.0 |" in en.markdown
    ids = ml.review.send_weekly_report(["ops-webhook"], week_of=dt.date(2026, 4, 15), now=monday + 7 * 24 * H)
    assert ids == ["weekly-2026-04-13-ops-webhook"]


def test_case_search_crosses_languages_through_the_catalog_glossary(ml: MetricLoop) -> None:
    g = ml.review.glossary()
    assert g.translations("支付") == ["payment"] and g.translations("payments") == ["支付"]
    assert g.translations("退款") == ["refund"] and g.translations("refunded") == ["退款"]
    assert g.translations("金额") == ["amount"] and g.translations("方式") == ["method"]  # inferred, not listed
    en = resolved_incident(ml, "o1", "orders", {"channel": "app"}, [])
    complete(ml, en, "Orders fell while refunds surged", "The payment gateway timed out after a certificate rotation",
             "Rotate certificates gradually", "Roll back the gateway certificate", 1.0)
    zh = resolved_incident(ml, "g1", "gmv", {"region": "华北"}, [], start=T0 + 72 * H)
    complete(ml, zh, "华北成交额下跌", "仓库系统故障，库存同步中断", "库存同步加监控", "修复库存同步", 0.5)

    assert [r["incident"] for r in ml.review.search("退款")] == [en]  # a Chinese query, an English review
    assert [r["incident"] for r in ml.review.search("支付网关")] == [en]
    assert [r["incident"] for r in ml.review.search("inventory outage")] == [zh]  # and back
    assert ml.review.search("配送") == []  # nothing about deliveries anywhere
    # a review in the query's own language ranks above one matched through the glossary
    both = resolved_incident(ml, "o2", "orders", {"channel": "web"}, [], start=T0 + 144 * H)
    complete(ml, both, "退款激增", "退款规则配置错误", "配置变更需审核", "回滚退款规则", 1.0)
    assert [r["incident"] for r in ml.review.search("退款")] == [both, en]
