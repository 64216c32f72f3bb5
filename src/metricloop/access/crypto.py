"""Password hashing (argon2), random tokens and their digests, signed session cookies (JWT).

Nothing here is hand-rolled cryptography: argon2-cffi hashes passwords, ``secrets`` makes
tokens, PyJWT signs cookies, ``hmac`` derives CSRF tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "mlt_"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_dummy: list[str] = []


def dummy_hash() -> str:
    """A hash of a random password with the current parameters: verifying against it costs what
    verifying a real user's password costs (the constant-time path for unknown user names)."""
    if not _dummy:
        _dummy.append(_hasher.hash(secrets.token_urlsafe(16)))
    return _dummy[0]


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_api_token() -> str:
    """A bearer token: recognisable prefix + 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def generate_password() -> str:
    """A password for a generated account (printed once): 16 characters, no look-alikes."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def digest(value: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, session ids); enough to store them safely."""
    return hashlib.sha256(value.encode()).hexdigest()


def sign_session(key: str, session_id: str, username: str, expires_at: dt.datetime) -> str:
    return jwt.encode({"sid": session_id, "sub": username, "exp": expires_at}, key, algorithm="HS256")


def read_session(key: str, cookie: str) -> dict[str, object] | None:
    """The cookie's claims if its signature and expiry are valid, else None."""
    try:
        claims: dict[str, object] = jwt.decode(cookie, key, algorithms=["HS256"], options={"require": ["exp", "sid"]})
    except jwt.PyJWTError:
        return None
    return claims


def csrf_for(key: str, session_id: str) -> str:
    """The CSRF token bound to one session: forms and cookie-authenticated API writes send it."""
    return hmac.new(key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
