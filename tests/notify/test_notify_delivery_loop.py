"""The pieces together, as the dispatcher will use them (without the database): alerts arrive
faster than the robots allow, every endpoint fails 30% of calls, one is down for five minutes,
one is broken for good. Everything must arrive (alone, in a digest or through the fallback
channel) and no idempotency id may be acted on twice."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from metricloop.notify.config import parse_channels
from metricloop.notify.emulator import RobotEmulator, webhook_secret
from metricloop.notify.message import Notification
from metricloop.notify.policy import (
    ChannelLimiter,
    Pending,
    RetryPolicy,
    decide,
    fallback_notification,
    limits_for,
    plan_sends,
    route,
)
from metricloop.notify.senders import Notifier


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Job:
    """One outbox row as the dispatcher would hold it."""

    pending: Pending
    channel: str
    attempts: int = 0
    first_at: float | None = None
    due: float = 0.0


@dataclass
class Stats:
    attempts: int = 0
    digests: int = 0
    fallbacks: int = 0
    delivered: set[str] = field(default_factory=set)


def test_nothing_lost_no_duplicate_under_failures() -> None:
    t0 = 1_700_000_000.0
    clock = Clock(t0)
    rng = random.Random(7)
    policy = RetryPolicy(base_s=2, factor=2, cap_s=60, jitter=0.5, max_age_s=3600)
    ws = webhook_secret(b"loop")
    with RobotEmulator(clock=clock, seed=11) as emu, Notifier(clock=clock) as notifier:
        spec: list[dict[str, Any]] = [
            {
                "name": "dt",
                "type": "dingtalk",
                "url": emu.dingtalk("t1", secret="SECloop", keywords=["告警"], failure_rate=0.3),
                "secret": "SECloop",
                "keyword": "告警",
            },
            {
                "name": "fs",
                "type": "feishu",
                "url": emu.feishu("h1", failure_rate=0.3, outages=[(t0 + 20, t0 + 320)]),
            },
            {
                "name": "wh",
                "type": "webhook",
                "url": emu.webhook("w1", secrets=ws, failure_rate=0.3),
                "secret": ws,
            },
            {"name": "sl", "type": "slack", "url": emu.slack("T/B/x", broken=True), "fallback": "wc"},
            {"name": "wc", "type": "wecom", "url": emu.wecom("k1", failure_rate=0.3)},
        ]
        channels = parse_channels({"channels": spec}).by_name()
        limiters = {name: ChannelLimiter(limits_for(ch)) for name, ch in channels.items()}
        broken: set[str] = set()
        targets = ["dt", "fs", "wh", "sl"]
        arrivals = [(t0 + i * 0.4, f"a{i:04d}", targets[i % 4]) for i in range(400)]
        expected = {aid for _, aid, _ in arrivals}
        jobs: list[Job] = []
        stats = Stats()

        while arrivals or jobs:
            while arrivals and arrivals[0][0] <= clock.t:
                _, aid, target = arrivals.pop(0)
                n = Notification(
                    kind="alert", metric=f"metric {aid}", severity="high", value=1.0, expected=2.0
                )
                # A broken (or disabled) channel's new work goes straight to its fallback.
                jobs.append(Job(Pending(aid, n), route(target, channels, broken) or target, due=clock.t))
            for name in channels:
                ready = [j for j in jobs if j.channel == name and j.due <= clock.t]
                if not ready:
                    continue
                plan = plan_sends(
                    [replace(j.pending, attempted=j.attempts > 0) for j in ready], limiters[name], clock.t
                )
                by_id = {j.pending.idempotency_id: j for j in ready}
                for held in plan.held:
                    by_id[held.idempotency_id].due = plan.wake_at or clock.t
                for batch in plan.send:
                    job = by_id.get(batch.idempotency_id)
                    if job is None:  # a new digest: it replaces the jobs it covers
                        stats.digests += 1
                        covered = [j for j in ready if set(j.pending.ids) & set(batch.covers)]
                        jobs = [j for j in jobs if j not in covered]
                        job = Job(Pending(batch.idempotency_id, batch.notification, batch.covers), name)
                        jobs.append(job)
                    job.attempts += 1
                    job.first_at = job.first_at or clock.t
                    stats.attempts += 1
                    result = notifier.send(channels[name], batch.notification, batch.idempotency_id)
                    d = decide(
                        result,
                        channel=name,
                        channels=channels,
                        broken=broken,
                        attempt=job.attempts,
                        first_attempt_at=job.first_at,
                        now=clock.t,
                        policy=policy,
                        rng=rng,
                    )
                    if d.action == "done":
                        stats.delivered.update(batch.covers)
                        jobs.remove(job)
                    elif d.action == "retry":
                        assert d.retry_at is not None
                        job.due = d.retry_at
                    else:
                        assert d.action == "fallback", d
                        assert d.fallback is not None
                        broken.add(name)
                        stats.fallbacks += 1
                        fb = fallback_notification(batch.notification, name, d.reason)
                        job.pending = Pending(f"{batch.idempotency_id}-fb", fb, batch.covers)
                        job.channel, job.attempts, job.first_at, job.due = d.fallback, 0, None, clock.t
            upcoming = [j.due for j in jobs] + ([arrivals[0][0]] if arrivals else [])
            clock.t = max(clock.t + 0.01, min(upcoming, default=clock.t))
            assert clock.t - t0 < 4 * 3600, "did not converge"

        assert stats.delivered == expected
        assert emu.duplicates_acted() == {}
        assert broken == {"sl"}
        assert stats.digests > 0  # DingTalk and Feishu overflow was coalesced, not dropped
        assert stats.fallbacks == 1  # Slack failed once; later Slack work was routed to WeCom
        # Every Slack-bound alert reached WeCom instead.
        assert emu.acted_ids("slack/T/B/x") == set()
        assert emu.acted_ids("wecom/k1")
        # The receivers never saw a rate-limit violation from us.
        for rec in emu.recorded():
            for code in (b"130101", b"11232", b"45009"):
                assert code not in rec.response
        print(
            f"alerts={len(expected)} attempts={stats.attempts} digests={stats.digests} "
            f"fallbacks={stats.fallbacks} requests={len(emu.recorded())} "
            f"acted={sum(emu.acted.values())} webhook_dups_ignored={sum(emu.duplicates_received.values())} "
            f"simulated_s={clock.t - t0:.0f}"
        )
