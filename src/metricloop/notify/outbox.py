"""The transactional outbox: notifications are rows written in the caller's transaction.

The workflow calls :func:`enqueue` inside the same session that opens, escalates or resolves an
incident, so either both the change and its notifications are committed or neither is; the
dispatcher (:mod:`metricloop.notify.dispatch`) delivers the rows afterwards, at least once.

The row id is the idempotency id the receiver sees (``webhook-id``, the Message-ID of an email,
``X-MetricLoop-Idempotency-Id``); it is deterministic (incident, event, channel) so enqueuing the
same event twice — a pass re-run after a crash — is a no-op.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from metricloop.notify.config import Channel
from metricloop.notify.message import Notification
from metricloop.notify.policy import route
from metricloop.store.db import Store
from metricloop.store.models import utcnow
from metricloop.store.workflow_models import ChannelState, OutboxMessage, UsedActionToken

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-:]")


def message_id(*parts: object) -> str:
    """A deterministic idempotency id from its parts, safe for every receiver (no ``.``, which
    Standard Webhooks uses as its separator; no spaces)."""
    raw = "-".join(str(p) for p in parts if p is not None and p != "")
    return _UNSAFE.sub("_", raw)[:200]


def broken_channels(s: Session) -> set[str]:
    return set(s.scalars(sa.select(ChannelState.channel).where(ChannelState.broken.is_(True))))


def mark_broken(s: Session, channel: str, reason: str, now: dt.datetime) -> None:
    row = s.get(ChannelState, channel)
    if row is None:
        s.add(ChannelState(channel=channel, broken=True, since=now, reason=reason[:2000]))
    elif not row.broken:
        row.broken, row.since, row.reason = True, now, reason[:2000]


def repair(s: Session, channel: str) -> bool:
    """Clear the broken mark (after the configuration was fixed); True when it was broken."""
    row = s.get(ChannelState, channel)
    if row is None or not row.broken:
        return False
    row.broken, row.reason = False, None
    return True


def enqueue(
    s: Session,
    *,
    idempotency_id: str,
    target: str,
    notification: Notification,
    now: dt.datetime,
    channels: Mapping[str, Channel],
    broken: Collection[str] = (),
    incident_id: int | None = None,
) -> OutboxMessage:
    """Add one notification for ``target`` (routed now: a broken channel's work goes straight to
    its fallback). Returns the existing row when this id was already enqueued."""
    existing = s.get(OutboxMessage, idempotency_id)
    if existing is not None:
        return existing
    routed = route(target, channels, broken) if target in channels else None
    row = OutboxMessage(
        id=idempotency_id,
        incident_id=incident_id,
        kind=notification.kind,
        target=target,
        channel=routed or target,
        notification=notification.model_dump(mode="json"),
        covers=[],
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    s.add(row)
    s.flush()
    return row


class DbUsedTokens:
    """:class:`~metricloop.notify.tokens.UsedTokenStore` on the state store (one short
    transaction per call; the primary key on ``jti`` makes spending atomic across processes)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def is_used(self, jti: str) -> bool:
        with self.store.session() as s:
            return s.get(UsedActionToken, jti) is not None

    def mark_used(self, jti: str, expires_at: dt.datetime) -> bool:
        try:
            with self.store.session() as s:
                s.add(UsedActionToken(jti=jti, expires_at=expires_at, used_at=utcnow()))
        except sa.exc.IntegrityError:
            return False
        return True

    def purge(self, now: dt.datetime) -> int:
        """Forget spent ids whose tokens have expired anyway (they can no longer be replayed)."""
        with self.store.session() as s:
            res = s.execute(sa.delete(UsedActionToken).where(UsedActionToken.expires_at <= now))
            return int(getattr(res, "rowcount", 0) or 0)
