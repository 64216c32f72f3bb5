"""Secrets come from environment variables and never leave the process in text.

Anything that may hold a token (a webhook URL, a database URL, an exception from a client
library) goes through :func:`redact` before it reaches a log line, an error or an API response.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from metricloop.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Both patterns start with a literal ("://", "=") that the regex engine finds by fast search, and
# their variable parts cannot run past the next candidate (the user part stops at ':', the password
# at '/' or '@', a value at '&'), so a failed match backtracks over its own run only: one pass over
# the text. (The old scheme prefix ``[a-z][a-z0-9+.-]*://`` was retried at every letter of a long
# word: quadratic, 60 KB took 3 s.) The key names are checked looking back from the '='.
_URL_PASSWORD = re.compile(r"://(?P<user>[^:/@\s]{1,512}):(?P<pw>[^@/\s]{1,4096})@")
_SECRET_KEYS = ("token", "key", "secret", "sign", "password", "passwd", "pwd")  # also access_token, api_key, apikey
_SECRET_QUERY = re.compile(
    "=(?:" + "|".join(f"(?<={k}=)" for k in _SECRET_KEYS) + r")[^&\s\"']+", re.IGNORECASE)
_known: set[str] = set()
_known_longest_first: list[str] = []
MASK = "***"
#: How much of a user's input an error message quotes (the rest is summarised as "… (N more characters)").
QUOTE_LIMIT = 200


def register(*values: str | None) -> None:
    """Remember secret values so that :func:`redact` masks them wherever they appear."""
    global _known_longest_first
    for v in values:
        if v and len(v) >= 4 and v not in _known:
            _known.add(v)
            _known_longest_first = sorted(_known, key=len, reverse=True)


def resolve_env(value: str, *, field: str, secret: bool = True) -> str:
    """Expand ``${VAR}`` references; a missing variable is a config error naming the field."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"environment variable {name} is not set (needed by {field})",
                zh=f"环境变量 {name} 未设置（{field} 需要）",
            )
        return os.environ[name]

    out = _ENV_REF.sub(sub, value)
    if secret and out != value:
        register(*(os.environ[n] for n in _ENV_REF.findall(value)))
    return out


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """Mask passwords in URLs, token-like query parameters and every registered secret.

    Linear in the length of ``text``: each pattern is one scan (see the note on the patterns),
    replacements are templates (no Python call per match) and each registered secret is one
    substring search (C speed; a secret inside a longer one is masked with the longer one).
    """
    out = text
    if "://" in out:
        out = _URL_PASSWORD.sub(rf"://\g<user>:{MASK}@", out)
    if "=" in out:
        out = _SECRET_QUERY.sub(f"={MASK}", out)
    more = [e for e in extra if e and e not in _known]
    for secret in sorted([*_known_longest_first, *more], key=len, reverse=True) if more else _known_longest_first:
        if secret in out:
            out = out.replace(secret, MASK)
    return out


def quote_input(value: object, limit: int = QUOTE_LIMIT) -> str:
    """User input as an error message quotes it: ``repr`` of at most ``limit`` characters, the
    rest summarised, so a 50 MB filter gives a short message (and redaction stays cheap)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text) - limit} more characters)"
