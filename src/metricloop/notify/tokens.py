"""Signed, expiring, single-use action links (acknowledge / resolve from a chat message).

Chat robots cannot call back, so the buttons are links to ``/a/<incident>/<action>?t=<token>``.
The token is a JWT (HS256, PyJWT) naming the incident, the action, the actor and an expiry, with
a random ``jti``. Single use needs memory of spent ``jti``s: the caller passes a
:class:`UsedTokenStore` (the state store in production, :class:`MemoryUsedTokens` in tests).
"""

from __future__ import annotations

import secrets as _secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

import jwt
from pydantic import SecretStr

from metricloop.errors import ConfigError, ConflictError, PermissionDenied

ISSUER = "metricloop"
AUDIENCE = "metricloop-action"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash output


class UsedTokenStore(Protocol):
    """Remembers spent token ids until they expire."""

    def is_used(self, jti: str) -> bool: ...

    def mark_used(self, jti: str, expires_at: datetime) -> bool:
        """Mark ``jti`` spent; return False when it already was (must be atomic: a unique key)."""
        ...


class MemoryUsedTokens:
    """In-process :class:`UsedTokenStore` (tests, single-process tools)."""

    def __init__(self) -> None:
        self._used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def is_used(self, jti: str) -> bool:
        with self._lock:
            return jti in self._used

    def mark_used(self, jti: str, expires_at: datetime) -> bool:
        with self._lock:
            if jti in self._used:
                return False
            self._used[jti] = expires_at
            return True

    def purge(self, now: datetime) -> int:
        """Forget ids whose tokens have expired anyway (they can no longer be replayed)."""
        with self._lock:
            old = [j for j, exp in self._used.items() if exp <= now]
            for j in old:
                del self._used[j]
            return len(old)


@dataclass(frozen=True)
class ActionClaim:
    """What a verified token allows: ``actor`` may do ``action`` on ``incident_id``."""

    incident_id: str
    action: str
    actor: str
    expires_at: datetime
    jti: str


def _key(secret: str | SecretStr) -> bytes:
    raw = (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode()
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"the action-link secret must be at least {MIN_SECRET_BYTES} bytes",
            zh=f"操作链接密钥至少需要 {MIN_SECRET_BYTES} 字节",
        )
    return raw


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def make_action_token(
    incident_id: str,
    action: str,
    actor: str,
    expires_at: datetime,
    secret: str | SecretStr,
    *,
    jti: str | None = None,
) -> str:
    """A compact URL-safe token; naive ``expires_at`` is taken as UTC."""
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "inc": incident_id,
        "act": action,
        "sub": actor,
        "exp": int(_aware(expires_at).timestamp()),
        "jti": jti or _secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, _key(secret), algorithm="HS256")


def action_url(base_url: str, incident_id: str, action: str, token: str) -> str:
    """The link a chat button opens."""
    return f"{base_url.rstrip('/')}/a/{quote(incident_id, safe='')}/{quote(action, safe='')}?t={token}"


_INVALID = ("the action link is invalid", "操作链接无效")


def verify_action_token(
    token: str,
    secret: str | SecretStr,
    used: UsedTokenStore,
    *,
    now: datetime | None = None,
    incident_id: str | None = None,
    action: str | None = None,
    consume: bool = True,
) -> ActionClaim:
    """Check signature, expiry, that it is for this incident/action, and spend it.

    Raises :class:`PermissionDenied` for a forged, tampered, mismatched or expired token and
    :class:`ConflictError` for a token already used. ``consume=False`` only checks (to show a
    confirmation page before the click that spends it).
    """
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "jti", "sub", "inc", "act"]},
        )
    except jwt.PyJWTError:
        raise PermissionDenied(_INVALID[0], zh=_INVALID[1]) from None
    claim = ActionClaim(
        incident_id=str(claims["inc"]),
        action=str(claims["act"]),
        actor=str(claims["sub"]),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
        jti=str(claims["jti"]),
    )
    if (incident_id is not None and claim.incident_id != incident_id) or (
        action is not None and claim.action != action
    ):
        raise PermissionDenied(_INVALID[0], zh=_INVALID[1])
    if _aware(now or datetime.now(UTC)) >= claim.expires_at:
        raise PermissionDenied("the action link has expired", zh="操作链接已过期")
    already = used.is_used(claim.jti) if not consume else not used.mark_used(claim.jti, claim.expires_at)
    if already:
        raise ConflictError("the action link was already used", zh="操作链接已被使用")
    return claim
