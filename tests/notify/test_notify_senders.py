"""Senders against the loopback emulator (real HTTP on 127.0.0.1): success judged on the body,
signatures, keywords, time windows, rate limits, injected faults, and no secret in any log."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from metricloop.notify.config import parse_channels
from metricloop.notify.emulator import RobotEmulator, webhook_secret
from metricloop.notify.message import KINDS, Mention, Notification, make_digest
from metricloop.notify.senders import Notifier
from metricloop.notify.signing import dingtalk_sign

DT_TOKEN = "dt-token-a83kd02"
DT_SECRET = "SEC-dingtalk-3f9a0c77e1"
FS_HOOK = "fs-hook-7d1e2b"
FS_SECRET = "feishu-secret-c0ffee42"
WC_KEY = "wecom-key-51bb7c"
SL_PATH = "T0AB/B0CD/slack-path-secret-99"
WH_SECRET = webhook_secret(b"tests")
KEYWORD = "指标告警"

ALERT = Notification(
    kind="alert",
    metric="GMV",
    severity="critical",
    slice={"region": "华东"},
    value=70.0,
    expected=100.0,
    causes=["华东 app 转化率下降"],
    mentions=[
        Mention(name="张三", mobile="13800000000", user_ids={"wecom": "zs", "feishu": "ou_zs", "slack": "U1"})
    ],
    incident_url="https://ml.example/incidents/1",
    ack_url="https://ml.example/a/1/ack?t=x",
)


class Clock:
    """A settable clock shared by sender and emulator (rate windows without sleeping)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[RobotEmulator]:
    with RobotEmulator(clock=clock, seed=1) as e:
        yield e


@pytest.fixture
def notifier(clock: Clock) -> Iterator[Notifier]:
    with Notifier(clock=clock, timeout_s=5) as n:
        yield n


def ch(**spec: Any) -> Any:
    return parse_channels({"channels": [{"name": "c", **spec}]}).channels[0]


def channels(emu: RobotEmulator) -> dict[str, Any]:
    return {
        "dingtalk": ch(
            type="dingtalk",
            url=emu.dingtalk(DT_TOKEN, secret=DT_SECRET, keywords=[KEYWORD]),
            secret=DT_SECRET,
            keyword=KEYWORD,
        ),
        "wecom": ch(type="wecom", url=emu.wecom(WC_KEY)),
        "feishu": ch(
            type="feishu",
            url=emu.feishu(FS_HOOK, secret=FS_SECRET, keywords=[KEYWORD]),
            secret=FS_SECRET,
            keyword=KEYWORD,
            locale="en",
        ),
        "slack": ch(type="slack", url=emu.slack(SL_PATH)),
        "webhook": ch(type="webhook", url=emu.webhook("ours", secrets=WH_SECRET), secret=WH_SECRET),
    }


PLATFORMS = ["dingtalk", "wecom", "feishu", "slack", "webhook"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_accepts_a_correct_message(
    platform: str, emu: RobotEmulator, notifier: Notifier
) -> None:
    channel = channels(emu)[platform]
    result = notifier.send(channel, ALERT, f"id-{platform}")
    assert result.outcome == "sent", result
    assert result.status == 200
    (rec,) = emu.recorded(platform)
    assert rec.acted
    assert rec.idempotency_id == f"id-{platform}"
    assert emu.acted_ids() == {f"id-{platform}"}


@pytest.mark.parametrize("platform", ["dingtalk", "feishu"])
def test_keyword_robots_accept_every_kind(
    platform: str, emu: RobotEmulator, notifier: Notifier, clock: Clock
) -> None:
    channel = channels(emu)[platform]
    for i, kind in enumerate(KINDS):
        clock.t += 1.0  # stay under Feishu's 5/s
        n = make_digest([ALERT, ALERT]) if kind == "digest" else ALERT.model_copy(update={"kind": kind})
        assert notifier.send(channel, n, f"k{i}").outcome == "sent", kind


def test_dingtalk_wrong_secret_is_permanent_despite_http_200(emu: RobotEmulator, notifier: Notifier) -> None:
    url = emu.dingtalk(DT_TOKEN, secret=DT_SECRET)
    result = notifier.send(ch(type="dingtalk", url=url, secret="SEC-some-other-secret"), ALERT, "x1")
    assert result.status == 200
    assert result.outcome == "permanent"
    assert result.code == "310000"
    assert "sign not match" in result.detail
    assert emu.acted_ids() == set()


@pytest.mark.parametrize(
    ("skew_min", "outcome"), [(-61, "permanent"), (61, "permanent"), (-59, "sent"), (59, "sent")]
)
def test_signature_time_window(skew_min: int, outcome: str, emu: RobotEmulator) -> None:
    cs = channels(emu)
    with Notifier(clock=lambda: emu.clock() + skew_min * 60) as skewed:
        assert skewed.send(cs["dingtalk"], ALERT, "a").outcome == outcome
        assert skewed.send(cs["feishu"], ALERT, "b").outcome == outcome


def test_double_encoded_dingtalk_sign_is_rejected(emu: RobotEmulator) -> None:
    """The pitfall the reference warns about: pre-encoding the sign AND letting the client encode."""
    url = emu.dingtalk(DT_TOKEN, secret=DT_SECRET).split("?")[0]
    ts = str(int(emu.clock() * 1000))
    raw = dingtalk_sign(DT_SECRET, ts)
    pre_encoded = quote(raw, safe="")
    body = b'{"msgtype":"text","text":{"content":"hi"}}'
    headers = {"Content-Type": "application/json"}
    query = {"access_token": DT_TOKEN, "timestamp": ts}
    once = httpx.post(url, params={**query, "sign": raw}, content=body, headers=headers)
    assert once.json()["errcode"] == 0
    twice = httpx.post(url, params={**query, "sign": pre_encoded}, content=body, headers=headers)
    assert twice.json() == {"errcode": 310000, "errmsg": "sign not match"}
    assert "%25" in str(twice.request.url)


def test_missing_keyword_is_permanent(emu: RobotEmulator, notifier: Notifier) -> None:
    url = emu.dingtalk(DT_TOKEN, keywords=[KEYWORD])
    resolved = ALERT.model_copy(update={"kind": "resolved"})
    r = notifier.send(ch(type="dingtalk", url=url, keyword="其他关键词"), resolved, "r1")
    assert (r.status, r.outcome, r.code) == (200, "permanent", "310000")
    assert "keywords not in content" in r.detail
    fs = emu.feishu(FS_HOOK, keywords=[KEYWORD])
    r = notifier.send(ch(type="feishu", url=fs), resolved, "r2")
    assert (r.status, r.outcome, r.code) == (200, "permanent", "19024")


def test_dingtalk_rate_limit_and_ten_minute_penalty(
    emu: RobotEmulator, notifier: Notifier, clock: Clock
) -> None:
    channel = channels(emu)["dingtalk"]
    results = [notifier.send(channel, ALERT, f"n{i}") for i in range(21)]
    assert all(r.outcome == "sent" for r in results[:20])
    last = results[20]
    assert (last.status, last.outcome, last.code, last.retry_after) == (200, "retryable", "130101", 60.0)
    clock.t += 120  # the window has passed, but DingTalk keeps the robot throttled
    assert notifier.send(channel, ALERT, "n21").code == "130101"
    clock.t += 600
    assert notifier.send(channel, ALERT, "n21").outcome == "sent"
    assert len(emu.acted_ids()) == 21


def test_wecom_unknown_key_and_rate_limit(emu: RobotEmulator, notifier: Notifier) -> None:
    url = emu.wecom(WC_KEY)
    bad = notifier.send(ch(type="wecom", url=url.replace(WC_KEY, "nope-key")), ALERT, "w0")
    assert (bad.status, bad.outcome, bad.code) == (200, "permanent", "93000")
    good = ch(type="wecom", url=url)
    results = [notifier.send(good, ALERT, f"w{i}") for i in range(21)]
    assert [r.outcome for r in results].count("sent") == 20
    assert (results[-1].outcome, results[-1].code) == ("retryable", "45009")


def test_feishu_wrong_secret_and_five_per_second(
    emu: RobotEmulator, notifier: Notifier, clock: Clock
) -> None:
    url = emu.feishu(FS_HOOK, secret=FS_SECRET)
    bad = notifier.send(ch(type="feishu", url=url, secret="not-the-secret"), ALERT, "f0")
    assert (bad.status, bad.outcome, bad.code) == (200, "permanent", "19021")
    good = ch(type="feishu", url=url, secret=FS_SECRET)
    results = [notifier.send(good, ALERT, f"f{i}") for i in range(6)]
    assert [r.outcome for r in results] == ["sent"] * 5 + ["retryable"]
    assert results[-1].code == "11232"
    clock.t += 1.01
    assert notifier.send(good, ALERT, "f5").outcome == "sent"


def test_slack_statuses(emu: RobotEmulator, notifier: Notifier) -> None:
    channel = ch(type="slack", url=emu.slack(SL_PATH))
    assert notifier.send(channel, ALERT, "s0").outcome == "sent"
    limited = notifier.send(channel, ALERT, "s1")
    assert (limited.status, limited.outcome, limited.retry_after) == (429, "retryable", 1.0)
    emu.robot("slack", SL_PATH).broken = True
    gone = notifier.send(channel, ALERT, "s2")
    assert (gone.status, gone.outcome, gone.code) == (410, "permanent", "channel_is_archived")


def test_standard_webhook_verifies_and_dedups(emu: RobotEmulator, notifier: Notifier) -> None:
    url = emu.webhook("ours", secrets=WH_SECRET)
    good = ch(type="webhook", url=url, secret=WH_SECRET)
    assert notifier.send(good, ALERT, "evt_1").outcome == "sent"
    again = notifier.send(good, ALERT, "evt_1")  # a retry after a lost response
    assert again.outcome == "sent"
    assert emu.acted[("webhook/ours", "evt_1")] == 1
    assert emu.duplicates_received[("webhook/ours", "evt_1")] == 1
    wrong = ch(type="webhook", url=url, secret=webhook_secret(b"other"))
    assert notifier.send(wrong, ALERT, "evt_2").outcome == "permanent"
    rec = emu.recorded("webhook")[0]
    assert rec.headers["webhook-signature"].startswith("v1,")
    assert rec.json()["type"] == "metricloop.alert.triggered"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_injected_failures_outages_and_breakage(
    platform: str, emu: RobotEmulator, notifier: Notifier
) -> None:
    channel = channels(emu)[platform]
    robot = next(r for r in emu.robots.values() if r.platform == platform)
    robot.failure_rate = 1.0
    assert notifier.send(channel, ALERT, "f1").outcome == "retryable"
    robot.failure_rate = 0.0
    robot.outages = [(emu.clock() - 1, emu.clock() + 60)]
    assert notifier.send(channel, ALERT, "f1").outcome == "retryable"
    robot.outages = []
    robot.broken = True
    assert notifier.send(channel, ALERT, "f1").outcome == "permanent"
    assert emu.acted_ids() == set()


def test_failure_rate_is_reproducible_with_a_seed(clock: Clock) -> None:
    outcomes = []
    for _ in range(2):
        with RobotEmulator(clock=clock, seed=42) as e, Notifier(clock=clock) as n:
            c = ch(type="webhook", url=e.webhook("w", failure_rate=0.3))
            outcomes.append([n.send(c, ALERT, f"e{i}").outcome for i in range(40)])
    assert outcomes[0] == outcomes[1]
    assert 0 < outcomes[0].count("retryable") < 40


def test_timeout_is_retryable_and_may_have_been_acted_on(emu: RobotEmulator, clock: Clock) -> None:
    channel = ch(type="wecom", url=emu.wecom(WC_KEY, delay_s=0.6))
    with Notifier(clock=clock, timeout_s=0.2) as fast:
        r = fast.send(channel, ALERT, "slow-1")
    assert (r.outcome, r.code) == ("retryable", "timeout")
    deadline = time.monotonic() + 10
    while not emu.acted_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The robot acted although we saw a timeout: why retries of chat robots can duplicate.
    assert emu.acted_ids() == {"slow-1"}


def test_connection_refused_is_retryable(notifier: Notifier) -> None:
    with RobotEmulator() as e:
        url = e.slack(SL_PATH)
    r = notifier.send(ch(type="slack", url=url), ALERT, "c1")
    assert (r.outcome, r.code) == ("retryable", "transport")


def test_disabled_channel_is_not_called(emu: RobotEmulator, notifier: Notifier) -> None:
    r = notifier.send(ch(type="wecom", url=emu.wecom(WC_KEY), enabled=False), ALERT, "d1")
    assert r.outcome == "permanent"
    assert emu.recorded() == []


def test_no_secret_in_logs_or_results(
    emu: RobotEmulator, notifier: Notifier, caplog: pytest.LogCaptureFixture
) -> None:
    cs = channels(emu)
    results = []
    with caplog.at_level(logging.DEBUG):
        for name, channel in cs.items():
            results.append(notifier.send(channel, ALERT, f"ok-{name}"))
            broken = channel.model_copy(
                update={"url": channel.url.__class__(channel.url.get_secret_value() + "x")}
            )
            results.append(notifier.send(broken, ALERT, f"bad-{name}"))
        with Notifier(clock=lambda: emu.clock() + 7200) as skewed:
            results.append(skewed.send(cs["dingtalk"], ALERT, "skew"))
    assert "HTTP Request" in caplog.text  # httpx did log the requests...
    texts = [caplog.text, *(repr(r) for r in results)]
    for secret in (DT_TOKEN, DT_SECRET, FS_HOOK, FS_SECRET, WC_KEY, "slack-path-secret-99", WH_SECRET):
        for text in texts:
            assert secret not in text  # ...with every credential masked
