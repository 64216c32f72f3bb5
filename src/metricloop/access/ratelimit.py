"""Sign-in throttling: too many failed passwords for one user name, or from one client
address, within a short window → refuse further attempts for a while (HTTP 429 + Retry-After).

The failures are the audit log's own ``login`` / ``denied`` rows (they are written anyway), so
the limit holds across every worker process and restart without a table or cache of its own.
A user name's count restarts at its next successful sign-in; an address's does not (one valid
account must not reset guessing at the others). The decision is pure and lives here.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from metricloop.errors import ConfigError, MetricLoopError
from metricloop.project import parse_duration


@dataclass(frozen=True)
class LoginLimit:
    """At most ``max_failures`` failed sign-ins per user name and per address in ``window``
    (OWASP's authentication cheat sheet suggests a small number such as 5 before throttling);
    ``max_failures=0`` turns throttling off."""

    max_failures: int = 5
    window: dt.timedelta = dt.timedelta(minutes=5)

    @classmethod
    def from_env(cls) -> LoginLimit:
        """``METRICLOOP_LOGIN_MAX_FAILURES`` (default 5, 0 = off), ``METRICLOOP_LOGIN_WINDOW``
        (a duration, default ``5 minutes``)."""
        raw_n = os.environ.get("METRICLOOP_LOGIN_MAX_FAILURES", "").strip()
        raw_w = os.environ.get("METRICLOOP_LOGIN_WINDOW", "").strip()
        try:
            n = int(raw_n) if raw_n else cls.max_failures
            window = parse_duration(raw_w) if raw_w else cls.window
        except ValueError:
            raise ConfigError(
                f"METRICLOOP_LOGIN_MAX_FAILURES={raw_n!r} / METRICLOOP_LOGIN_WINDOW={raw_w!r}: expected a whole "
                "number and a duration like '5 minutes'",
                zh="METRICLOOP_LOGIN_MAX_FAILURES 应为整数，METRICLOOP_LOGIN_WINDOW 应为时长（如 5 minutes）",
            ) from None
        if n < 0 or window <= dt.timedelta(0):
            raise ConfigError("METRICLOOP_LOGIN_MAX_FAILURES must be >= 0 and METRICLOOP_LOGIN_WINDOW positive",
                              zh="METRICLOOP_LOGIN_MAX_FAILURES 不能为负，METRICLOOP_LOGIN_WINDOW 必须为正")
        return cls(n, window)


class TooManyAttempts(MetricLoopError):
    """Sign-in refused for ``retry_after`` seconds after too many failures (HTTP 429)."""

    http_status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}",
                         zh=f"登录失败次数过多，请 {minutes} 分钟后再试")


def retry_after(failures: Sequence[dt.datetime], now: dt.datetime, limit: LoginLimit) -> dt.timedelta | None:
    """How long until another attempt is allowed (None: allowed now).

    Blocked while ``max_failures`` failures lie within the window before ``now``; free again
    when the oldest of the latest ``max_failures`` leaves it.
    """
    if limit.max_failures <= 0:
        return None
    recent = sorted((t for t in failures if now - limit.window < t <= now), reverse=True)
    if len(recent) < limit.max_failures:
        return None
    return recent[limit.max_failures - 1] + limit.window - now
