"""Notification channels: configuration, messages, rendering, signing, sending, delivery policy.

A library for the dispatcher (which owns the outbox and the database):

- :mod:`.config` — ``channels.yaml`` (:func:`load_channels`), secrets as ``SecretStr``.
- :mod:`.message` — :class:`Notification`, :func:`make_digest`.
- :mod:`.render` — per-platform bodies in zh-CN / en, fitted to size limits.
- :mod:`.signing` — DingTalk, Feishu, Standard Webhooks (+ inbound Slack/PagerDuty/Grafana).
- :mod:`.tokens` — signed, expiring, single-use acknowledge / resolve links.
- :mod:`.senders` — :class:`Notifier` ``.send(channel, notification, idempotency_id)`` →
  :class:`DeliveryResult` (success judged on the response body).
- :mod:`.policy` — rate limits with digest coalescing, backoff, fallback decisions (pure).
- :mod:`.emulator` — loopback DingTalk / WeCom / Feishu / Slack / Standard-Webhooks receiver.
"""

from metricloop.notify.config import Channel, ChannelsFile, RateLimit, load_channels, parse_channels
from metricloop.notify.message import DigestItem, Mention, Notification, make_digest
from metricloop.notify.policy import (
    Batch,
    ChannelLimiter,
    Decision,
    Pending,
    RetryPolicy,
    SendPlan,
    decide,
    digest_id,
    fallback_notification,
    limits_for,
    next_retry_at,
    plan_sends,
    resolve_fallback,
    route,
)
from metricloop.notify.senders import DeliveryResult, Notifier
from metricloop.notify.tokens import (
    ActionClaim,
    MemoryUsedTokens,
    UsedTokenStore,
    action_url,
    make_action_token,
    verify_action_token,
)

__all__ = [
    "ActionClaim",
    "Batch",
    "Channel",
    "ChannelLimiter",
    "ChannelsFile",
    "Decision",
    "DeliveryResult",
    "DigestItem",
    "MemoryUsedTokens",
    "Mention",
    "Notification",
    "Notifier",
    "Pending",
    "RateLimit",
    "RetryPolicy",
    "SendPlan",
    "UsedTokenStore",
    "action_url",
    "decide",
    "digest_id",
    "fallback_notification",
    "limits_for",
    "load_channels",
    "make_action_token",
    "make_digest",
    "next_retry_at",
    "parse_channels",
    "plan_sends",
    "resolve_fallback",
    "route",
    "verify_action_token",
]
