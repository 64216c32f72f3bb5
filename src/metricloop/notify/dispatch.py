"""The dispatcher: outbox rows → channels, at least once, nothing dropped, every attempt recorded.

One :meth:`Dispatcher.run_once` call:

1. *claims* the due rows (``pending`` and ``next_attempt_at <= now``) by pushing their
   ``next_attempt_at`` one lease ahead, in its own transaction (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL) — a process killed after claiming simply lets the lease expire;
2. per channel, rebuilds the rate limiter from the attempts recorded in the last window (so a
   restart does not forget how much of DingTalk's 20/min was spent) and asks
   :func:`~metricloop.notify.policy.plan_sends` what to send: overflow is coalesced into a
   digest row (its own id; the rows it covers become ``covered``), nothing is dropped;
3. for each send: records the attempt (``unknown``) and commits *before* the request, sends,
   then records the outcome and applies :func:`~metricloop.notify.policy.decide`: delivered
   (every covered id too), retry later under the same id, or channel broken → a ``-fb`` row on
   the fallback channel carrying the original plus a note (the owner hears about it there),
   or ``dead`` (no channel left; listed by :func:`failures`, never silently gone).

If the process dies between sending and recording, the attempt stays ``unknown`` and the row is
retried under the same id after the lease: receivers that deduplicate on the id (Standard
Webhooks, email Message-ID) see one message; chat robots cannot deduplicate, so that narrow
window can show one message twice — the price of never losing one.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from metricloop.notify.config import Channel
from metricloop.notify.message import Notification
from metricloop.notify.outbox import broken_channels, mark_broken
from metricloop.notify.policy import (
    Batch,
    ChannelLimiter,
    Pending,
    RetryPolicy,
    backoff_delay,
    decide,
    fallback_notification,
    limits_for,
    plan_sends,
    resolve_fallback,
    route,
)
from metricloop.notify.senders import Notifier
from metricloop.secrets import redact
from metricloop.store.db import Store
from metricloop.store.workflow_models import DeliveryAttempt, OutboxMessage

log = logging.getLogger("metricloop.notify.dispatch")

UTC = dt.UTC


def _ts(t: dt.datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _dt(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=UTC)


@dataclass
class DispatchReport:
    """What one pass did (counts of messages, not of alerts)."""

    claimed: int = 0
    attempts: int = 0
    delivered: int = 0  # original messages delivered (alone, in a digest or through a fallback)
    retries: int = 0
    digests: int = 0
    fallbacks: int = 0
    dead: int = 0
    held: int = 0
    # messages that met an unconfigured channel (an unset ``${VAR}``) with no fallback, counted on
    # their first attempt; they stay pending and go out once the variable is set
    undeliverable: int = 0
    unconfigured: dict[str, str] = field(default_factory=dict)  # channel → why (redacted)
    broken: list[str] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)  # per-incident facts for the audit

    def merge(self, other: DispatchReport) -> None:
        for k in ("claimed", "attempts", "delivered", "retries", "digests", "fallbacks", "dead", "held",
                  "undeliverable"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.unconfigured.update(other.unconfigured)
        self.broken += [b for b in other.broken if b not in self.broken]
        self.events += other.events


@dataclass
class _Row:
    """A claimed outbox row, detached from its session."""

    id: str
    channel: str
    target: str
    kind: str
    incident_id: int | None
    notification: Notification
    covers: tuple[str, ...]
    attempts: int
    first_attempt_at: dt.datetime | None

    @property
    def ids(self) -> tuple[str, ...]:
        return self.covers or (self.id,)

    def pending(self) -> Pending:
        return Pending(self.id, self.notification, self.covers, attempted=self.attempts > 0)


class Dispatcher:
    """Delivers the outbox of one state store through the channels of ``channels.yaml``."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        notifier: Notifier,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        lease_s: float = 120.0,
        batch_size: int = 1000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        # Rate limits are about when requests really leave, so sends are timed by the live clock
        # (the notifier's, which also signs them); a pass's ``now`` only anchors scheduling.
        self.clock = clock or notifier.clock
        self._anchor = (dt.datetime.now(UTC), self.clock())
        self.channels = dict(channels)
        self.notifier = notifier
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.lease = dt.timedelta(seconds=lease_s)
        self.batch_size = batch_size
        self._max_window = max(
            (lim.per_seconds * 1.05 for ch in self.channels.values() for lim in limits_for(ch)), default=0.0
        )

    def _now(self) -> dt.datetime:
        """The pass's ``now`` advanced by the live time spent since the pass began."""
        start, c0 = self._anchor
        return start + dt.timedelta(seconds=max(0.0, self.clock() - c0))

    # ------------------------------------------------------------------------------ claim
    def _claim(self, now: dt.datetime) -> list[_Row]:
        with self.store.session() as s:
            q = (
                sa.select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            )
            rows = list(s.scalars(q))
            for r in rows:
                r.next_attempt_at = now + self.lease
            return [
                _Row(
                    r.id,
                    r.channel,
                    r.target,
                    r.kind,
                    r.incident_id,
                    Notification.model_validate(r.notification),
                    tuple(r.covers or ()),
                    r.attempts,
                    r.first_attempt_at,
                )
                for r in rows
            ]

    def _limiter(self, s: Session, channel: Channel, now: dt.datetime) -> ChannelLimiter:
        """The channel's buckets refilled from the attempts recorded in the last window."""
        limiter = ChannelLimiter(limits_for(channel))
        if not limiter.buckets:
            return limiter
        since = now - dt.timedelta(seconds=self._max_window)
        starts = s.scalars(
            sa.select(DeliveryAttempt.started_at)
            .where(DeliveryAttempt.channel == channel.name, DeliveryAttempt.started_at > since)
            .order_by(DeliveryAttempt.started_at)
        )
        for t in starts:
            for b in limiter.buckets:
                b.take(_ts(t))
        return limiter

    # ------------------------------------------------------------------------------ run
    def run_once(self, now: dt.datetime) -> DispatchReport:
        """Deliver what is due at ``now`` (UTC-aware); returns what happened."""
        report = DispatchReport()
        self._anchor = (now, self.clock())
        rows = self._claim(now)
        report.claimed = len(rows)
        by_channel: dict[str, list[_Row]] = defaultdict(list)
        for r in rows:
            by_channel[r.channel].append(r)
        for name, chan_rows in by_channel.items():
            self._channel(name, chan_rows, report)
        return report

    def _channel(self, name: str, rows: list[_Row], report: DispatchReport) -> None:
        now = self._now()
        channel = self.channels.get(name)
        if channel is None:
            for r in rows:
                self._dead(r, f"unknown channel {name!r} (not in channels.yaml)", now, report)
            return
        with self.store.session() as s:
            broken = broken_channels(s)
            limiter = self._limiter(s, channel, now)
        if name in broken or not channel.enabled:
            for r in rows:
                self._reroute(r, broken, "channel is broken" if name in broken else "channel is disabled", now, report)
            return
        if channel.unconfigured is not None:
            self._unconfigured(channel, rows, broken, now, report)
            return
        plan = plan_sends([r.pending() for r in rows], limiter, _ts(now))
        by_id = {r.id: r for r in rows}
        if plan.held:
            report.held += len(plan.held)
            wake = _dt(plan.wake_at) if plan.wake_at is not None else now
            with self.store.session() as s:
                s.execute(
                    sa.update(OutboxMessage)
                    .where(OutboxMessage.id.in_([p.idempotency_id for p in plan.held]))
                    .values(next_attempt_at=wake)
                )
        for batch in plan.send:
            with self.store.session() as s:
                broken = broken_channels(s)
            if name in broken:  # it broke earlier in this pass: nothing more goes there
                for r in self._rows_of(batch, by_id):
                    self._reroute(r, broken, "channel is broken", now, report)
                continue
            row = by_id.get(batch.idempotency_id) or self._new_digest(batch, name, by_id, now, report)
            self._attempt(channel, row, report)

    @staticmethod
    def _rows_of(batch: Batch, by_id: Mapping[str, _Row]) -> list[_Row]:
        if batch.idempotency_id in by_id:
            return [by_id[batch.idempotency_id]]
        covers = set(batch.covers)
        return [r for r in by_id.values() if set(r.ids) <= covers]

    def _new_digest(
        self, batch: Batch, channel: str, by_id: Mapping[str, _Row], now: dt.datetime, report: DispatchReport
    ) -> _Row:
        """Persist a digest as its own row before it is sent; the rows it folds become covered."""
        folded = self._rows_of(batch, by_id)
        with self.store.session() as s:
            if s.get(OutboxMessage, batch.idempotency_id) is None:
                s.add(
                    OutboxMessage(
                        id=batch.idempotency_id,
                        incident_id=None,
                        kind="digest",
                        target=channel,
                        channel=channel,
                        notification=batch.notification.model_dump(mode="json"),
                        covers=list(batch.covers),
                        status="pending",
                        attempts=0,
                        next_attempt_at=now + self.lease,
                        created_at=now,
                    )
                )
            s.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_([r.id for r in folded]))
                .values(status="covered", covered_by=batch.idempotency_id)
            )
        report.digests += 1
        return _Row(batch.idempotency_id, channel, channel, "digest", None, batch.notification, batch.covers, 0, None)

    def _attempt(self, channel: Channel, row: _Row, report: DispatchReport) -> None:
        now = self._now()
        number = row.attempts + 1
        first = row.first_attempt_at or now
        with self.store.session() as s:
            attempt = DeliveryAttempt(outbox_id=row.id, channel=channel.name, attempt=number, started_at=now)
            s.add(attempt)
            db_row = s.get(OutboxMessage, row.id)
            assert db_row is not None
            db_row.attempts, db_row.first_attempt_at = number, first
            db_row.next_attempt_at = now + self.lease
            s.flush()
            attempt_id = attempt.id
        report.attempts += 1
        result = self.notifier.send(channel, row.notification, row.id)
        now = self._now()
        with self.store.session() as s:
            broken = broken_channels(s)
            d = decide(
                result,
                channel=channel.name,
                channels=self.channels,
                broken=broken,
                attempt=number,
                first_attempt_at=_ts(first),
                now=_ts(now),
                policy=self.policy,
                rng=self.rng,
            )
            att = s.get(DeliveryAttempt, attempt_id)
            assert att is not None
            att.finished_at, att.outcome, att.status = dt.datetime.now(UTC), result.outcome, result.status
            att.code, att.detail = result.code, redact(result.detail)[:2000]
            db_row = s.get(OutboxMessage, row.id)
            assert db_row is not None
            if d.action == "done":
                self._delivered(s, row, now, report)
            elif d.action == "retry":
                assert d.retry_at is not None
                db_row.next_attempt_at, db_row.last_error = _dt(d.retry_at), redact(result.detail)[:2000]
                report.retries += 1
            else:
                mark_broken(s, channel.name, redact(d.reason), now)
                if channel.name not in report.broken:
                    report.broken.append(channel.name)
                report.events.append(
                    {"kind": "channel_broken", "channel": channel.name, "reason": redact(d.reason),
                     "incident_id": row.incident_id}
                )
                if d.action == "fallback" and d.fallback is not None:
                    self._fallback_row(s, db_row, row, d.fallback, channel.name, d.reason, now, report)
                else:
                    db_row.status, db_row.last_error = "dead", redact(d.reason)[:2000]
                    report.dead += 1
                    report.events.append({"kind": "dead", "outbox_id": row.id, "incident_id": row.incident_id})

    def _delivered(self, s: Session, row: _Row, now: dt.datetime, report: DispatchReport) -> None:
        ids = {row.id, *row.covers}
        s.execute(
            sa.update(OutboxMessage)
            .where(
                sa.or_(OutboxMessage.id.in_(ids), OutboxMessage.covered_by == row.id),
                OutboxMessage.status != "delivered",
            )
            .values(status="delivered", delivered_at=now)
        )
        report.delivered += len(row.ids)  # original messages, not the digest / fallback rows carrying them

    def _fallback_row(
        self,
        s: Session,
        db_row: OutboxMessage,
        row: _Row,
        fallback: str,
        broken_channel: str,
        reason: str,
        now: dt.datetime,
        report: DispatchReport,
    ) -> None:
        """Re-address to ``fallback`` under a new id (the fallback receiver never saw it)."""
        new_id = f"{row.id}-fb"[:200]
        while s.get(OutboxMessage, new_id) is not None:
            new_id = f"{new_id}x"[:200]
        note_target = fallback_notification(row.notification, broken_channel, redact(reason))
        s.add(
            OutboxMessage(
                id=new_id,
                incident_id=row.incident_id,
                kind=row.kind,
                target=row.target,
                channel=fallback,
                notification=note_target.model_dump(mode="json"),
                covers=list(row.ids),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        db_row.status, db_row.covered_by, db_row.last_error = "rerouted", new_id, redact(reason)[:2000]
        report.fallbacks += 1

    def _reroute(self, row: _Row, broken: set[str], reason: str, now: dt.datetime, report: DispatchReport) -> None:
        """A row on a broken/disabled channel: never attempted → move it; attempted → ``-fb`` row."""
        target = route(row.channel, self.channels, broken)
        with self.store.session() as s:
            db_row = s.get(OutboxMessage, row.id)
            assert db_row is not None
            if target is None:
                db_row.status, db_row.last_error = "dead", f"{reason}; no fallback channel"
                report.dead += 1
                report.events.append({"kind": "dead", "outbox_id": row.id, "incident_id": row.incident_id})
            elif row.attempts == 0:
                db_row.channel, db_row.next_attempt_at = target, now
            else:
                self._fallback_row(s, db_row, row, target, row.channel, reason, now, report)

    def _unconfigured(
        self, channel: Channel, rows: list[_Row], broken: set[str], now: dt.datetime, report: DispatchReport
    ) -> None:
        """A channel whose ``${VAR}`` is unset: its fallback takes the messages now, without marking
        it broken (setting the variable is the repair); with no fallback every due message is a
        failed attempt, retried with backoff and never given up on, so none is lost or sent twice."""
        reason = redact(channel.unconfigured or "")
        report.unconfigured[channel.name] = reason
        down = {*broken, channel.name}
        fallback = resolve_fallback(channel.name, self.channels, down)
        for r in rows:
            if r.attempts == 0:
                report.events.append({"kind": "undeliverable", "channel": channel.name, "reason": reason,
                                      "outbox_id": r.id, "incident_id": r.incident_id, "fallback": fallback})
            if fallback is not None:
                self._reroute(r, down, f"channel {channel.name}: {reason}", now, report)
                continue
            report.undeliverable += r.attempts == 0
            result = self.notifier.send(channel, r.notification, r.id)  # "unconfigured", nothing leaves
            number = r.attempts + 1
            with self.store.session() as s:
                s.add(DeliveryAttempt(outbox_id=r.id, channel=channel.name, attempt=number, started_at=now,
                                      finished_at=now, outcome=result.outcome, status=None, code=result.code,
                                      detail=redact(result.detail)[:2000]))
                db_row = s.get(OutboxMessage, r.id)
                assert db_row is not None
                db_row.attempts, db_row.first_attempt_at = number, r.first_attempt_at or now
                db_row.next_attempt_at = now + dt.timedelta(seconds=backoff_delay(self.policy, number, self.rng))
                db_row.last_error = redact(result.detail)[:2000]
            report.attempts += 1
            report.retries += 1

    def _dead(self, row: _Row, reason: str, now: dt.datetime, report: DispatchReport) -> None:
        with self.store.session() as s:
            db_row = s.get(OutboxMessage, row.id)
            assert db_row is not None
            db_row.status, db_row.last_error = "dead", reason
        report.dead += 1
        report.events.append({"kind": "dead", "outbox_id": row.id, "incident_id": row.incident_id})


def failures(store: Store, limit: int = 200) -> list[OutboxMessage]:
    """Messages that could not be delivered anywhere (for the UI and ``metricloop notify``)."""
    with store.session() as s:
        return list(
            s.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.status == "dead")
                .order_by(OutboxMessage.created_at.desc())
                .limit(limit)
            )
        )


def outbox_stats(store: Store) -> dict[str, int]:
    """Rows per status (``pending`` > 0 after a pass means work is waiting: retries, rate limits)."""
    with store.session() as s:
        return {str(k): int(v) for k, v in s.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))}


def attempts_of(store: Store, outbox_id: str) -> Sequence[DeliveryAttempt]:
    with store.session() as s:
        return list(
            s.scalars(
                sa.select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == outbox_id).order_by(DeliveryAttempt.id)
            )
        )

