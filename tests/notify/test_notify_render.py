"""Rendering: both locales, keywords in every kind, mentions per platform, size limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from metricloop.notify.config import parse_channels
from metricloop.notify.message import KINDS, Mention, Notification, make_digest
from metricloop.notify.render import (
    render_dingtalk,
    render_email,
    render_feishu,
    render_slack,
    render_webhook,
    render_wecom,
    truncate_utf8,
)

OWNER = Mention(
    name="张三",
    mobile="13800000000",
    email="zs@example.com",
    user_ids={"feishu": "ou_zs", "wecom": "zs", "slack": "U1"},
)
ALERT = Notification(
    kind="alert",
    metric="GMV",
    severity="high",
    slice={"region": "华东"},
    value=80.0,
    expected=100.0,
    observed_at=datetime(2024, 5, 1, 9, tzinfo=UTC),
    causes=["华东 app 下单转化率下降", "coupon budget exhausted"],
    mentions=[OWNER],
    incident_id="inc-7",
    incident_url="https://ml.example/incidents/inc-7",
    ack_url="https://ml.example/a/inc-7/ack?t=tok-a",
    resolve_url="https://ml.example/a/inc-7/resolve?t=tok-r",
)


def channel(type_: str, locale: str = "zh-CN", **extra: Any) -> Any:
    base: dict[str, Any] = {"name": "c", "type": type_, "locale": locale}
    if type_ == "email":
        base |= {
            "smtp": {"host": "localhost", "port": 25, "security": "none"},
            "sender": "a@b.c",
            "to": ["o@b.c"],
        }
    else:
        base["url"] = "https://robot.example/hook?access_token=abc"
    return parse_channels({"channels": [base | extra]}).channels[0]


def all_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def notification_of(kind: str) -> Notification:
    if kind == "digest":
        return make_digest([ALERT, ALERT.model_copy(update={"kind": "resolved", "severity": "low"})])
    return ALERT.model_copy(update={"kind": kind, "escalation_level": 2 if kind == "escalation" else None})


@pytest.mark.parametrize("kind", KINDS)
def test_dingtalk_keyword_in_title_and_text_of_every_kind(kind: str) -> None:
    for style in ("markdown", "card"):
        ch = channel("dingtalk", keyword="指标告警", style=style)
        body = render_dingtalk(ch, notification_of(kind))
        part = body[body["msgtype"]]
        assert "指标告警" in part["title"]
        assert "指标告警" in part["text"]


@pytest.mark.parametrize("kind", KINDS)
def test_feishu_keyword_in_every_kind(kind: str) -> None:
    card = render_feishu(channel("feishu", keyword="metric-alert"), notification_of(kind))
    assert "metric-alert" in card["card"]["header"]["title"]["content"]


def test_locales_change_the_words_not_the_facts() -> None:
    zh = render_email(channel("email", "zh-CN"), ALERT)
    en = render_email(channel("email", "en"), ALERT)
    assert "异常" in zh.subject
    assert "【高】" in zh.subject
    assert en.subject == "[High] GMV is abnormal"
    assert "当前值" in zh.text
    assert "Value" in en.text
    for text in (zh.text, en.text):
        assert "-20.0%" in text
        assert "80" in text
        assert "100" in text
        assert "region=华东" in text
        assert "coupon budget exhausted" in text
        assert "https://ml.example/a/inc-7/ack?t=tok-a" in text
    assert '<a href="https://ml.example/a/inc-7/resolve?t=tok-r">' in en.html


def test_html_email_escapes_user_text() -> None:
    n = ALERT.model_copy(update={"causes": ["<script>alert(1)</script>"]})
    html = render_email(channel("email", "en"), n).html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_mentions_use_each_platforms_syntax() -> None:
    dt = render_dingtalk(channel("dingtalk"), ALERT)
    assert dt["msgtype"] == "markdown"  # auto style: markdown so the owner is pinged
    assert dt["at"]["atMobiles"] == ["13800000000"]
    assert "@13800000000" in dt["markdown"]["text"]
    assert "<@zs>" in render_wecom(channel("wecom"), ALERT)["markdown"]["content"]
    assert "<at id=ou_zs></at>" in all_text(render_feishu(channel("feishu"), ALERT))
    assert "<@U1>" in all_text(render_slack(channel("slack"), ALERT))
    only_mobile = ALERT.model_copy(update={"mentions": [Mention(name="李四", mobile="13900000000")]})
    wc = render_wecom(channel("wecom"), only_mobile)
    assert wc["msgtype"] == "text"
    assert wc["text"]["mentioned_mobile_list"] == ["13900000000"]


def test_dingtalk_action_card_has_link_buttons() -> None:
    n = ALERT.model_copy(update={"mentions": []})
    body = render_dingtalk(channel("dingtalk"), n)
    assert body["msgtype"] == "actionCard"
    urls = [b["actionURL"] for b in body["actionCard"]["btns"]]
    assert urls == [n.incident_url, n.ack_url, n.resolve_url]


def test_digest_lists_every_item_most_severe_first() -> None:
    low = ALERT.model_copy(update={"severity": "low", "metric": "UV"})
    crit = ALERT.model_copy(update={"severity": "critical", "metric": "Orders"})
    d = make_digest([low, crit, make_digest([ALERT, low])])
    assert [i.metric for i in d.items] == ["Orders", "GMV", "UV", "UV"]
    assert d.severity == "critical"
    text = render_slack(channel("slack", "en"), d)["blocks"][1]["text"]["text"]
    assert text.index("Orders") < text.index("GMV") < text.index("UV")


BIG = ALERT.model_copy(
    update={
        "causes": ["因为" * 200 + str(i) for i in range(60)],
        "note": "说明" * 400,
        "metric": "指标" * 100,
    }
)
HUGE_DIGEST = make_digest([ALERT.model_copy(update={"metric": f"指标{i}"}) for i in range(600)])


@pytest.mark.parametrize("n", [BIG, HUGE_DIGEST], ids=["long-alert", "600-item-digest"])
def test_bodies_fit_platform_limits_and_keep_the_essentials(n: Notification) -> None:
    dt = render_dingtalk(channel("dingtalk", keyword="指标告警"), n)
    assert len(all_text(dt).encode()) <= 20_000
    assert "指标告警" in dt["markdown"]["title"]
    assert "指标告警" in dt["markdown"]["text"]
    wc = render_wecom(channel("wecom"), n)["markdown"]["content"]
    assert len(wc.encode()) <= 4096
    fs = render_feishu(channel("feishu", keyword="告警"), n)
    assert len(all_text(fs).encode()) <= 20_000 - 120
    sl = render_slack(channel("slack"), n)
    assert all(len(b["text"]["text"]) <= 3000 for b in sl["blocks"] if b["type"] == "section")
    wh = render_webhook(channel("webhook"), n, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert len(all_text(wh).encode()) <= 20_000
    # The links and the "and N more" line survive the cut.
    if n.kind != "digest":
        assert n.ack_url in dt["markdown"]["text"]
        assert n.ack_url in wc
    assert "另有" in dt["markdown"]["text"]
    assert "另有" in wc
    if n.kind == "digest":  # shown + "另有 N 条" accounts for every item
        for text in (dt["markdown"]["text"], wc):
            shown = sum(1 for line in text.split("\n") if line.startswith("- ["))
            hidden = int(re.search(r"另有 (\d+) 条", text).group(1))  # type: ignore[union-attr]
            assert shown + hidden == 600
            assert shown > 0


def test_truncate_utf8_never_splits_a_character() -> None:
    s = "指标监控闭环" * 10
    for n in range(70):
        out = truncate_utf8(s, n)
        assert len(out.encode()) <= max(n, len("…".encode()))
        assert out.rstrip("…") == s[: len(out.rstrip("…"))]


def test_webhook_payload_carries_type_and_data() -> None:
    body = render_webhook(channel("webhook", "en"), ALERT, now=datetime(2024, 5, 1, tzinfo=UTC))
    assert body["type"] == "metricloop.alert.triggered"
    assert body["data"]["incident_id"] == "inc-7"
    assert body["data"]["title"] == "[High] GMV is abnormal"
    resolved = render_webhook(
        channel("webhook"), notification_of("resolved"), now=datetime(2024, 5, 1, tzinfo=UTC)
    )
    assert resolved["type"] == "metricloop.alert.resolved"


def test_figures_follow_the_metrics_own_format() -> None:
    """A message reads a figure as the metric's dashboard does: a rate with its format spec, a
    count without a trailing '.0', in a digest too."""
    rate = ALERT.model_copy(update={"metric": "支付成功率", "value": 0.8531, "expected": 0.9712,
                                    "unit": "%", "value_format": ".1%"})
    count = ALERT.model_copy(update={"metric": "orders", "value": 259224.0, "expected": 301118.0,
                                     "value_format": ",.0f"})
    for n in (rate, count, make_digest([rate, count])):
        text = render_email(channel("email", "en"), n).text
        if n is not count:
            assert "85.3%" in text and "97.1%" in text and "%%" not in text
        if n is not rate:
            assert "259,224" in text and "301,118" in text and "259224.0" not in text
