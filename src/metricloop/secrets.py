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
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@")
_SECRET_QUERY = re.compile(
    r"(?P<key>(?:access_token|token|key|secret|sign|password|passwd|pwd|api_key|apikey)=)[^&\s\"']+",
    re.IGNORECASE,
)
_known: set[str] = set()
MASK = "***"


def register(*values: str | None) -> None:
    """Remember secret values so that :func:`redact` masks them wherever they appear."""
    for v in values:
        if v and len(v) >= 4:
            _known.add(v)


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
    """Mask passwords in URLs, token-like query parameters and every registered secret."""
    out = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    out = _SECRET_QUERY.sub(lambda m: f"{m.group('key')}{MASK}", out)
    for s in sorted({*_known, *(e for e in extra if e)}, key=len, reverse=True):
        out = out.replace(s, MASK)
    return out
