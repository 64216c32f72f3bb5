"""Delivery policy: rate windows never exceeded, overflow coalesced (not dropped), retry
schedule bounds, and the broken-channel → fallback decision."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricloop.notify.config import RateLimit, parse_channels
from metricloop.notify.message import Notification
from metricloop.notify.policy import (
    Bucket,
    ChannelLimiter,
    Decision,
    Pending,
    RetryPolicy,
    backoff_delay,
    decide,
    digest_id,
    fallback_notification,
    limits_for,
    next_retry_at,
    plan_sends,
    resolve_fallback,
    route,
)
from metricloop.notify.senders import DeliveryResult


def alert(i: int, severity: str = "medium") -> Notification:
    return Notification(kind="alert", metric=f"m{i}", severity=severity, value=float(i), expected=1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), min_size=1, max_size=300))
def test_bucket_never_allows_more_than_count_in_any_window(times: list[float]) -> None:
    bucket = Bucket(RateLimit(count=20, per_seconds=60), margin=0.0)
    taken: list[float] = []
    for t in sorted(times):
        if bucket.available(t) > 0:
            bucket.take(t)
            taken.append(t)
    for t in taken:
        assert sum(1 for u in taken if t <= u < t + 60) <= 20


def test_bucket_returns_tokens_one_window_after_use() -> None:
    b = Bucket(RateLimit(count=2, per_seconds=10), margin=0.0)
    b.take(0.0)
    b.take(1.0)
    assert b.available(5.0) == 0
    assert b.next_free_at(5.0) == 10.0
    assert b.available(10.0) == 1
    assert b.available(11.0) == 2


def test_feishu_needs_both_limits() -> None:
    ch = parse_channels(
        {"channels": [{"name": "f", "type": "feishu", "url": "https://x.example/h"}]}
    ).channels[0]
    lim = ChannelLimiter(limits_for(ch), margin=0.0)
    for _ in range(5):
        assert lim.take(0.0)
    assert not lim.take(0.5)  # 5/s
    t = 1.0
    sent = 5
    while sent < 100:
        if lim.take(t):
            sent += 1
        t += 0.25
    assert t < 60
    assert lim.available(t) == 0  # 100/min reached before the minute is over
    assert lim.next_free_at(t) == pytest.approx(60.0)


def test_override_replaces_platform_limits() -> None:
    ch = parse_channels(
        {
            "channels": [
                {
                    "name": "d",
                    "type": "dingtalk",
                    "url": "https://x.example/s?access_token=t",
                    "rate_limit": [{"count": 5, "per_seconds": 60}],
                }
            ]
        }
    ).channels[0]
    assert limits_for(ch) == (RateLimit(count=5, per_seconds=60),)


def test_burst_of_25_is_coalesced_into_one_digest_nothing_lost() -> None:
    lim = ChannelLimiter([RateLimit(count=20, per_seconds=60)])
    pending = [Pending(f"n{i}", alert(i, "critical" if i == 24 else "medium")) for i in range(25)]
    plan = plan_sends(pending, lim, now=0.0)
    assert len(plan.send) == 20
    singles, digest = plan.send[:-1], plan.send[-1]
    assert singles[0].idempotency_id == "n24"  # the critical one goes out alone, first
    assert digest.notification.kind == "digest"
    assert len(digest.notification.items) == 6
    covered = [i for b in plan.send for i in b.covers]
    assert sorted(covered) == sorted(p.idempotency_id for p in pending)
    assert digest.idempotency_id == digest_id(digest.covers)
    assert plan.held == []
    # Bucket empty now: the next arrivals wait, and learn when to come back.
    later = plan_sends([Pending("n25", alert(25))], lim, now=10.0)
    assert later.send == []
    assert [p.idempotency_id for p in later.held] == ["n25"]
    assert later.wake_at == pytest.approx(63.0)


def test_retries_keep_their_identity_and_go_first() -> None:
    covers = ("a", "b", "c")
    digest_retry = Pending(digest_id(covers), alert(0), covers=covers, attempted=True)
    single_retry = Pending("r1", alert(1), attempted=True)
    fresh = [Pending(f"f{i}", alert(i, "critical")) for i in range(5)]
    lim = ChannelLimiter([RateLimit(count=3, per_seconds=60)])
    plan = plan_sends([*fresh, single_retry, digest_retry], lim, now=0.0)
    assert [b.idempotency_id for b in plan.send[:2]] == ["r1", digest_id(("c", "b", "a"))]
    assert plan.send[1].covers == covers
    # One token left for five fresh alerts: one digest covering all five.
    assert plan.send[2].notification.kind == "digest"
    assert sorted(plan.send[2].covers) == [f"f{i}" for i in range(5)]
    # No token at all: retries are held too, never merged.
    plan = plan_sends([single_retry, *fresh], lim, now=1.0)
    assert plan.send == []
    assert plan.held[0].idempotency_id == "r1"


def test_unlimited_channel_sends_everything() -> None:
    plan = plan_sends([Pending(f"n{i}", alert(i)) for i in range(50)], ChannelLimiter([]), now=0.0)
    assert len(plan.send) == 50


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_within_bounds(attempt: int) -> None:
    policy = RetryPolicy(base_s=5, factor=4, cap_s=3600, jitter=0.5)
    nominal = min(3600, 5 * 4 ** (attempt - 1))
    rng = random.Random(attempt)
    delays = [backoff_delay(policy, attempt, rng) for _ in range(200)]
    assert all(nominal * 0.5 <= d <= nominal for d in delays)
    assert max(delays) - min(delays) > 0  # jitter spreads retries


def test_backoff_is_reproducible_with_a_seed() -> None:
    policy = RetryPolicy()
    a = [backoff_delay(policy, n, random.Random(7)) for n in range(1, 8)]
    b = [backoff_delay(policy, n, random.Random(7)) for n in range(1, 8)]
    assert a == b


def test_retry_gives_up_after_max_age_or_attempts_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_s=10, factor=2, cap_s=100, jitter=0.0, max_age_s=1000, max_attempts=50)
    rng = random.Random(0)
    assert next_retry_at(policy, 1, 0.0, 0.0, rng) == 10.0
    assert next_retry_at(policy, 1, 0.0, 0.0, rng, retry_after=60.0) == 60.0
    assert next_retry_at(policy, 9, 0.0, 500.0, rng) == 600.0  # capped at 100 s
    assert next_retry_at(policy, 9, 0.0, 950.0, rng) is None  # would exceed max age
    assert next_retry_at(policy, 50, 0.0, 0.0, rng) is None  # max attempts


CHANNELS = parse_channels(
    {
        "channels": [
            {"name": "dt", "type": "dingtalk", "url": "https://x.example/s?access_token=t", "fallback": "fs"},
            {
                "name": "fs",
                "type": "feishu",
                "url": "https://x.example/h",
                "fallback": "mail",
                "enabled": False,
            },
            {
                "name": "mail",
                "type": "email",
                "smtp": {"host": "localhost"},
                "sender": "a@b.c",
                "to": ["o@b.c"],
                "fallback": "dt",
            },
        ]
    }
).by_name()


def _decide(result: DeliveryResult, broken: set[str], attempt: int = 1, now: float = 0.0) -> Decision:
    return decide(
        result,
        channel="dt",
        channels=CHANNELS,
        broken=broken,
        attempt=attempt,
        first_attempt_at=0.0,
        now=now,
        policy=RetryPolicy(max_age_s=3600),
        rng=random.Random(1),
    )


def test_decisions() -> None:
    sent = _decide(DeliveryResult("sent", 200, "0"), set())
    assert sent.action == "done"
    retry = _decide(DeliveryResult("retryable", 200, "130101", retry_after=60), set())
    assert retry.action == "retry"
    assert retry.retry_at is not None
    assert retry.retry_at >= 60
    # Permanent: channel broken, fallback skips the disabled Feishu channel and reaches email.
    perm = _decide(DeliveryResult("permanent", 200, "310000", "sign not match"), set())
    assert (perm.action, perm.mark_broken, perm.fallback) == ("fallback", True, "mail")
    # Retryable for too long is treated like permanent.
    old = _decide(DeliveryResult("retryable", 503), set(), attempt=30, now=3590.0)
    assert (old.action, old.fallback) == ("fallback", "mail")
    # No channel left (email broken too): dead, surfaced, not dropped silently.
    dead = _decide(DeliveryResult("permanent", 410), {"mail"})
    assert (dead.action, dead.fallback) == ("dead", None)


def test_fallback_chain_and_routing_stop_at_cycles() -> None:
    assert resolve_fallback("dt", CHANNELS) == "mail"
    assert resolve_fallback("mail", CHANNELS, broken={"dt"}) is None  # mail → dt(broken) → fs(off) → mail
    assert route("dt", CHANNELS, broken=set()) == "dt"
    assert route("dt", CHANNELS, broken={"dt"}) == "mail"
    assert route("fs", CHANNELS) == "mail"


def test_fallback_notification_says_why() -> None:
    n = fallback_notification(alert(1), "dt", "dingtalk errcode 310000: sign not match")
    assert n.kind == "alert"
    assert n.metric == "m1"
    assert "dt" in (n.note or "")
    assert "310000" in (n.note or "")
