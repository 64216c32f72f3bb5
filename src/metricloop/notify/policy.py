"""Delivery policy, pure: rate limits with coalescing, retry schedule, broken-channel fallback.

No IO and no hidden clock: every function takes ``now`` (epoch seconds) and, where randomness is
needed, a ``random.Random`` so the dispatcher is reproducible under test.

Rate limits. The platforms count messages per robot in a window (DingTalk and WeCom 20/min —
DingTalk then *throttles the robot for 10 minutes* — Feishu 5/s and 100/min, Slack ~1/s). A
classic continuously-refilling bucket of capacity 20 at 20/min can let 40 messages through in one
minute, which would trip that penalty, so each limit here is a bucket whose spent token comes back
exactly one window after it was spent (a sliding-window log): never more than ``count`` in any
window. A small ``margin`` widens the window to absorb network jitter between our clock and theirs.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from metricloop.notify.config import Channel, RateLimit
from metricloop.notify.message import Notification, make_digest, severity_rank
from metricloop.notify.senders import DeliveryResult

DEFAULT_LIMITS: dict[str, tuple[RateLimit, ...]] = {
    "dingtalk": (RateLimit(count=20, per_seconds=60),),
    "wecom": (RateLimit(count=20, per_seconds=60),),
    "feishu": (RateLimit(count=5, per_seconds=1), RateLimit(count=100, per_seconds=60)),
    "slack": (RateLimit(count=1, per_seconds=1),),
    "webhook": (),
    "email": (),
}


def limits_for(channel: Channel) -> tuple[RateLimit, ...]:
    """The channel's override from ``channels.yaml`` or its platform's documented limits."""
    return tuple(channel.rate_limit) if channel.rate_limit is not None else DEFAULT_LIMITS[channel.type]


class Bucket:
    """At most ``limit.count`` takes in any window of ``limit.per_seconds * (1 + margin)``."""

    def __init__(self, limit: RateLimit, margin: float = 0.05) -> None:
        self.count = limit.count
        self.window = limit.per_seconds * (1 + margin)
        self._spent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0] <= now - self.window:
            self._spent.popleft()

    def available(self, now: float) -> int:
        self._expire(now)
        return self.count - len(self._spent)

    def next_free_at(self, now: float) -> float:
        """When the next token is back (``now`` if one is available)."""
        self._expire(now)
        return now if len(self._spent) < self.count else self._spent[0] + self.window

    def take(self, now: float) -> None:
        self._expire(now)
        self._spent.append(now)


class ChannelLimiter:
    """All limits of one channel (Feishu has two); a send needs a token from each."""

    def __init__(self, limits: Sequence[RateLimit], margin: float = 0.05) -> None:
        self.buckets = [Bucket(lim, margin) for lim in limits]

    def available(self, now: float) -> int | None:
        """Tokens available now; ``None`` = unlimited."""
        return min((b.available(now) for b in self.buckets), default=None)

    def next_free_at(self, now: float) -> float:
        return max((b.next_free_at(now) for b in self.buckets), default=now)

    def take(self, now: float) -> bool:
        if self.available(now) == 0:
            return False
        for b in self.buckets:
            b.take(now)
        return True


@dataclass(frozen=True)
class Pending:
    """A notification waiting for a channel.

    ``covers``: the outbox ids it delivers (several for a digest). ``attempted``: it was sent
    before and failed; it then keeps its identity (same idempotency id, same content) and is
    never folded into a new digest — a timed-out attempt may have been shown already, and a
    new id would hide that duplicate from the receiver's dedup.
    """

    idempotency_id: str
    notification: Notification
    covers: tuple[str, ...] = ()
    attempted: bool = False

    @property
    def ids(self) -> tuple[str, ...]:
        return self.covers or (self.idempotency_id,)


@dataclass(frozen=True)
class Batch:
    """One message to send now; when it succeeds every id in ``covers`` is delivered."""

    idempotency_id: str
    notification: Notification
    covers: tuple[str, ...]


@dataclass(frozen=True)
class SendPlan:
    send: list[Batch]
    held: list[Pending]
    wake_at: float | None  # when to plan the held ones again (None: nothing held)


def digest_id(ids: Sequence[str]) -> str:
    """Deterministic id of a digest from the ids it covers: a retry recomputes the same id."""
    h = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:24]
    return f"digest-{h}"


def plan_sends(pending: Sequence[Pending], limiter: ChannelLimiter, now: float) -> SendPlan:
    """Decide what one channel sends now, taking tokens from ``limiter``.

    Retries (``attempted``) go first, each as it was. Of the fresh notifications, with ``k``
    tokens left and ``n > k`` waiting, the ``k - 1`` most severe go out alone and the rest are
    coalesced into ONE digest using the last token. What gets no token is held until
    ``wake_at``. Nothing is ever dropped.
    """
    retries = [p for p in pending if p.attempted]
    fresh = sorted(
        (p for p in pending if not p.attempted), key=lambda p: severity_rank(p.notification.severity)
    )
    avail = limiter.available(now)
    k = len(pending) if avail is None else avail
    send = [Batch(p.idempotency_id, p.notification, p.ids) for p in retries[:k]]
    held = retries[k:]
    k -= len(send)
    if k >= len(fresh):
        send += [Batch(p.idempotency_id, p.notification, p.ids) for p in fresh]
    elif k == 0:
        held += fresh
    else:
        singles, rest = fresh[: k - 1], fresh[k - 1 :]
        send += [Batch(p.idempotency_id, p.notification, p.ids) for p in singles]
        covers = tuple(i for p in rest for i in p.ids)
        send.append(Batch(digest_id(covers), make_digest([p.notification for p in rest]), covers))
    for _ in send:
        limiter.take(now)
    return SendPlan(send, held, limiter.next_free_at(now) if held else None)


# --- retries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, bounded by the age of the first attempt.

    Defaults follow the Standard-Webhooks example schedule in spirit (seconds first, then
    minutes, then hours, for about three days).
    """

    base_s: float = 5.0
    factor: float = 4.0
    cap_s: float = 6 * 3600.0
    jitter: float = 0.5  # delay drawn from [d * (1 - jitter), d]
    max_age_s: float = 3 * 86400.0
    max_attempts: int | None = None


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1 = the retry after the first failure)."""
    d = min(policy.cap_s, policy.base_s * policy.factor ** max(0, attempt - 1))
    return d * (1 - policy.jitter * rng.random())


def next_retry_at(
    policy: RetryPolicy,
    attempt: int,
    first_attempt_at: float,
    now: float,
    rng: random.Random,
    retry_after: float | None = None,
) -> float | None:
    """When to try again after failed attempt number ``attempt``; ``None`` = give up.

    A server's ``Retry-After`` (or DingTalk's ``wait``) is honoured as a lower bound.
    """
    if policy.max_attempts is not None and attempt >= policy.max_attempts:
        return None
    delay = max(backoff_delay(policy, attempt, rng), retry_after or 0.0)
    at = now + delay
    return None if at - first_attempt_at > policy.max_age_s else at


# --- outcome → next step --------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the dispatcher does after an attempt.

    ``done``: delivered. ``retry``: same idempotency id at ``retry_at``. ``fallback``: give up
    on this channel (``mark_broken``) and send through ``fallback``. ``dead``: no channel left;
    surface it (failure list, UI) — it is never silently dropped.
    """

    action: Literal["done", "retry", "fallback", "dead"]
    retry_at: float | None = None
    mark_broken: bool = False
    fallback: str | None = None
    reason: str = ""


def resolve_fallback(
    channel_name: str, channels: Mapping[str, Channel], broken: Collection[str] = ()
) -> str | None:
    """First enabled, not-broken channel along the ``fallback`` chain (cycles stop the walk)."""
    seen = {channel_name}
    name = channels[channel_name].fallback if channel_name in channels else None
    while name is not None and name not in seen and name in channels:
        ch = channels[name]
        if ch.enabled and name not in broken:
            return name
        seen.add(name)
        name = ch.fallback
    return None


def route(channel_name: str, channels: Mapping[str, Channel], broken: Collection[str] = ()) -> str | None:
    """Where a new notification for ``channel_name`` goes while channels may be broken/disabled."""
    ch = channels.get(channel_name)
    if ch is not None and ch.enabled and channel_name not in broken:
        return channel_name
    return resolve_fallback(channel_name, channels, broken)


def decide(
    result: DeliveryResult,
    *,
    channel: str,
    channels: Mapping[str, Channel],
    broken: Collection[str],
    attempt: int,
    first_attempt_at: float,
    now: float,
    policy: RetryPolicy,
    rng: random.Random,
) -> Decision:
    """Classify the outcome of attempt number ``attempt`` into the next step."""
    if result.outcome == "sent":
        return Decision("done")
    if result.outcome == "retryable":
        at = next_retry_at(policy, attempt, first_attempt_at, now, rng, result.retry_after)
        if at is not None:
            return Decision("retry", retry_at=at, reason=result.detail)
        reason = f"gave up after {attempt} attempts: {result.detail}"
    else:
        reason = result.detail
    fb = resolve_fallback(channel, channels, {*broken, channel})
    return Decision("fallback" if fb else "dead", mark_broken=True, fallback=fb, reason=reason)


def fallback_notification(original: Notification, broken_channel: str, reason: str) -> Notification:
    """The original message, re-addressed through the fallback channel with a note saying why."""
    note = f"⚠ 渠道 {broken_channel} 不可用 / channel {broken_channel} is unavailable: {reason}"
    if original.note:
        note = f"{original.note}\n{note}"
    return original.model_copy(update={"note": note})
