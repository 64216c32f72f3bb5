"""Signatures of the chat robots and signed webhooks, exactly as the platforms compute them.

Each platform has its own HMAC construction and the differences are what break deliveries
(DingTalk keys the HMAC with the secret, Feishu with ``timestamp\\nsecret`` over an empty message;
DingTalk's sign is sent URL-encoded once). The test vectors of
``shared/reference/chat-robots.md`` §7 pin every function here. The ``*_signature`` functions
for Grafana, PagerDuty and Slack are for our *inbound* side (verifying callbacks we receive).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

from metricloop.errors import ConfigError

WHSEC_PREFIX = "whsec_"
STANDARD_WEBHOOKS_TOLERANCE_S = 300


def _hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """Raw base64 sign of a DingTalk custom robot: ``base64(HMAC(secret, ts + "\\n" + secret))``."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(_hmac_sha256(secret.encode(), string_to_sign)).decode("ascii")


def dingtalk_sign_query(secret: str, timestamp_ms: int | str) -> str:
    """``timestamp=…&sign=…`` with the sign URL-encoded exactly once (``+ / =`` escaped).

    Append it to the robot URL as a *string*; do not also pass it as ``params=`` to an HTTP
    client, which would encode it a second time (``%252B`` → errcode 310000 sign not match).
    """
    return f"timestamp={timestamp_ms}&sign={quote(dingtalk_sign(secret, timestamp_ms), safe='')}"


def feishu_sign(secret: str, timestamp_s: int | str) -> str:
    """Feishu/Lark custom bot sign: ``base64(HMAC(key = ts + "\\n" + secret, msg = b""))``."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(_hmac_sha256(key, b"")).decode("ascii")


def _whsec_key(secret: str) -> bytes:
    raw = secret[len(WHSEC_PREFIX) :] if secret.startswith(WHSEC_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ConfigError(
            "webhook secret must be 'whsec_' followed by base64",
            zh="webhook 密钥必须是 'whsec_' 加 base64",
        ) from exc


def standard_webhooks_signature(secret: str, msg_id: str, timestamp_s: int | str, body: bytes) -> str:
    """One ``v1,<base64>`` entry over ``{id}.{timestamp}.{raw body}`` (Standard Webhooks v1)."""
    if "." in msg_id or "." in str(timestamp_s):
        raise ValueError("webhook-id and webhook-timestamp must not contain '.'")
    content = f"{msg_id}.{timestamp_s}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(_whsec_key(secret), content)).decode("ascii")


def standard_webhooks_headers(secret: str, msg_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three headers a Standard-Webhooks sender adds to each attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": standard_webhooks_signature(secret, msg_id, timestamp_s, body),
    }


def standard_webhooks_verify(
    secrets: list[str] | str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now_s: float,
    tolerance_s: float = STANDARD_WEBHOOKS_TOLERANCE_S,
) -> str | None:
    """Why a Standard-Webhooks request is not acceptable, or ``None`` when it is.

    Accepts any of several secrets (rotation) and any of several space-separated signatures;
    compares in constant time; rejects timestamps outside ``±tolerance_s``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = (lower.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not ts or not sigs:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    try:
        ts_int = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer"
    if abs(now_s - ts_int) > tolerance_s:
        return "webhook-timestamp outside the tolerance window"
    offered = [s.split(",", 1)[1] for s in sigs.split() if s.startswith("v1,")]
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        expected = standard_webhooks_signature(secret, msg_id, ts, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, o) for o in offered):
            return None
    return "no matching signature"


def slack_signature(signing_secret: str, timestamp_s: int | str, body: bytes) -> str:
    """``X-Slack-Signature`` of a Slack callback: ``v0=hex(HMAC(secret, "v0:ts:body"))``."""
    base = f"v0:{timestamp_s}:".encode() + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def pagerduty_signature(secret: str, body: bytes) -> str:
    """One ``X-PagerDuty-Signature`` entry (v3 webhooks): ``v1=hex(HMAC(secret, body))``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def grafana_signature(secret: str, body: bytes, timestamp_s: int | str | None = None) -> str:
    """Grafana 12+ webhook signature: lowercase hex HMAC of ``ts:body`` (or of the body alone)."""
    msg = f"{timestamp_s}:".encode() + body if timestamp_s is not None else body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def verify_hex_signature(expected: str, offered: str) -> bool:
    """Constant-time comparison for the hex-style schemes (Slack, PagerDuty, Grafana)."""
    return any(hmac.compare_digest(expected, o.strip()) for o in offered.split(","))
