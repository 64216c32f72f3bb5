"""The outbox dispatcher against real receivers on loopback — the robot emulator and an aiosmtpd
SMTP server — with a real state store (SQLite and PostgreSQL): rate limits coalesce into digests,
retries keep their idempotency id, permanent errors break the channel and reroute to the
fallback, every attempt is recorded, and no secret reaches the database or the logs."""

from __future__ import annotations

import datetime as dt
import email
import logging
import random
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from metricloop.notify.config import parse_channels
from metricloop.notify.dispatch import Dispatcher, attempts_of, failures
from metricloop.notify.emulator import RobotEmulator, webhook_secret
from metricloop.notify.message import Notification
from metricloop.notify.outbox import broken_channels, enqueue
from metricloop.notify.policy import RetryPolicy
from metricloop.notify.senders import Notifier
from metricloop.store import Store
from metricloop.store.workflow_models import ChannelState, DeliveryAttempt, OutboxMessage

T0 = dt.datetime(2026, 4, 14, 9, tzinfo=dt.UTC)
TOKEN = "dt-token-9f8e7d6c5b4a"
POLICY = RetryPolicy(base_s=5, factor=2, cap_s=60, jitter=0.5, max_age_s=3600)


class Clock:
    def __init__(self) -> None:
        self.t = T0.timestamp()

    def __call__(self) -> float:
        return self.t

    @property
    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.t, tz=dt.UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "fresh_postgres_url")
    s = Store(url)
    yield s
    s.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def setup(clock: Clock, smtp: tuple[Inbox, int]) -> Iterator[tuple[RobotEmulator, dict[str, Any]]]:
    ws = webhook_secret(b"outbox")
    with RobotEmulator(clock=clock, seed=5) as emu:
        spec = [
            {"name": "dt", "type": "dingtalk", "url": emu.dingtalk(TOKEN, secret="SECoutbox", keywords=["告警"]),
             "secret": "SECoutbox", "keyword": "告警", "fallback": "mail"},
            {"name": "wh", "type": "webhook", "url": emu.webhook("w1", secrets=ws), "secret": ws},
            {"name": "sl", "type": "slack", "url": emu.slack("T1/B1/slack-secret-path", broken=True),
             "fallback": "mail"},
            {"name": "mail", "type": "email", "smtp": {"host": "127.0.0.1", "port": smtp[1], "security": "none"},
             "sender": "ml@example.com", "to": ["ops@example.com"]},
        ]
        yield emu, parse_channels({"channels": spec}).by_name()


def put(store: Store, channels: dict[str, Any], ids: list[str], target: str, now: dt.datetime) -> None:
    with store.session() as s:
        broken = broken_channels(s)
        for i in ids:
            n = Notification(kind="alert", metric=f"指标 {i}", severity="high", value=1.0, expected=2.0)
            enqueue(s, idempotency_id=i, target=target, notification=n, now=now, channels=channels, broken=broken)


def rows(store: Store) -> dict[str, OutboxMessage]:
    with store.session() as s:
        return {r.id: r for r in s.scalars(sa.select(OutboxMessage))}


def dispatcher(store: Store, channels: dict[str, Any], notifier: Notifier) -> Dispatcher:
    return Dispatcher(store, channels, notifier, policy=POLICY, rng=random.Random(1), lease_s=30)


def test_a_burst_over_the_rate_limit_is_coalesced_into_one_digest_not_dropped(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock
) -> None:
    emu, channels = setup
    ids = [f"a{i:02d}" for i in range(25)]
    put(store, channels, ids, "dt", clock.now)
    with Notifier(clock=clock) as n:
        rep = dispatcher(store, channels, n).run_once(clock.now)
    assert (rep.attempts, rep.digests, rep.delivered) == (20, 1, 25)
    r = rows(store)
    digest = next(x for x in r.values() if x.kind == "digest")
    assert len(digest.covers) == 6 and set(digest.covers) <= set(ids)
    assert all(r[i].status == "delivered" for i in ids)
    assert {x.covered_by for x in r.values() if x.id in digest.covers} == {digest.id}
    assert emu.acted_ids(f"dingtalk/{TOKEN}") == {*(set(ids) - set(digest.covers)), digest.id}
    assert not any(b"130101" in rec.response for rec in emu.recorded())


def test_the_rate_limit_survives_a_restart(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock
) -> None:
    emu, channels = setup
    put(store, channels, [f"a{i}" for i in range(20)], "dt", clock.now)
    with Notifier(clock=clock) as n:
        dispatcher(store, channels, n).run_once(clock.now)
    put(store, channels, ["late1", "late2"], "dt", clock.now)
    clock.t += 30
    with Notifier(clock=clock) as n:  # a fresh dispatcher: its buckets come from the recorded attempts
        rep = dispatcher(store, channels, n).run_once(clock.now)
    assert (rep.attempts, rep.held) == (0, 2)
    assert rows(store)["late1"].next_attempt_at > clock.now
    clock.t += 40
    with Notifier(clock=clock) as n:
        rep = dispatcher(store, channels, n).run_once(clock.now)
    assert rep.delivered == 2
    assert not any(b"130101" in rec.response for rec in emu.recorded())


def test_retries_keep_their_idempotency_id_and_every_attempt_is_recorded(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock
) -> None:
    emu, channels = setup
    emu.robot("webhook", "w1").outages = [(clock.t, clock.t + 20)]
    put(store, channels, ["w-1"], "wh", clock.now)
    with Notifier(clock=clock) as n:
        d = dispatcher(store, channels, n)
        assert d.run_once(clock.now).retries == 1
        assert d.run_once(clock.now).attempts == 0  # not due yet
        while rows(store)["w-1"].status != "delivered":
            clock.t = rows(store)["w-1"].next_attempt_at.timestamp()
            d.run_once(clock.now)
    atts = attempts_of(store, "w-1")
    assert [a.outcome for a in atts][-1] == "sent" and {a.outcome for a in atts[:-1]} == {"retryable"}
    assert [a.attempt for a in atts] == list(range(1, len(atts) + 1))
    sent_ids = {rec.headers["webhook-id"] for rec in emu.recorded("webhook")}
    assert sent_ids == {"w-1"} and emu.acted_ids("webhook/w1") == {"w-1"}


def test_permanent_error_breaks_the_channel_and_the_fallback_email_carries_the_message(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    emu, channels = setup
    put(store, channels, ["s-1"], "sl", clock.now)
    with Notifier(clock=clock) as n:
        rep = dispatcher(store, channels, n).run_once(clock.now)
        assert (rep.fallbacks, rep.broken) == (1, ["sl"])
        dispatcher(store, channels, n).run_once(clock.now)
    r = rows(store)
    assert r["s-1"].status == "delivered" and r["s-1"].covered_by == "s-1-fb"
    assert r["s-1-fb"].channel == "mail" and r["s-1-fb"].status == "delivered"
    (msg,) = smtp[0].messages
    body = msg.get_body(("plain",))
    assert body is not None and "channel sl is unavailable" in body.get_content()
    assert msg["Message-ID"] == "<s-1-fb@metricloop>"
    with store.session() as s:
        assert s.get(ChannelState, "sl") is not None and broken_channels(s) == {"sl"}
    put(store, channels, ["s-2"], "sl", clock.now)  # new work for a broken channel goes to the fallback
    assert rows(store)["s-2"].channel == "mail"
    assert len(emu.recorded("slack")) == 1


def test_no_channel_left_means_dead_and_listed_never_silently_gone(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock
) -> None:
    emu, channels = setup
    emu.robot("webhook", "w1").broken = True
    put(store, channels, ["w-9"], "wh", clock.now)
    with Notifier(clock=clock) as n:
        rep = dispatcher(store, channels, n).run_once(clock.now)
    assert rep.dead == 1
    assert [m.id for m in failures(store)] == ["w-9"]


def test_secrets_stay_out_of_the_database_and_the_logs(
    store: Store, setup: tuple[RobotEmulator, dict[str, Any]], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    emu, channels = setup
    emu.robot("dingtalk", TOKEN).broken = True
    put(store, channels, ["d-1"], "dt", clock.now)
    caplog.set_level(logging.DEBUG)
    with Notifier(clock=clock) as n:
        dispatcher(store, channels, n).run_once(clock.now)
    with store.session() as s:
        texts = [str(a.detail) for a in s.scalars(sa.select(DeliveryAttempt))]
        texts += [str(r.last_error) for r in s.scalars(sa.select(OutboxMessage))]
        texts += [str(c.reason) for c in s.scalars(sa.select(ChannelState))]
    texts.append(caplog.text)
    assert any("400102" in t for t in texts)  # the error itself is kept …
    for secret in (TOKEN, "SECoutbox", "slack-secret-path"):
        assert all(secret not in t for t in texts)  # … without the credentials
