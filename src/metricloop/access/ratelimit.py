"""Sign-in throttling: too many failed passwords for one user name, or from one client
address, within a short window → refuse further attempts for a while (HTTP 429 + Retry-After).

The failures are the audit log's own ``login`` rows, so the limit holds across every worker
process and restart without a table or cache of its own. Counting is atomic: an attempt first
commits its own ``pending`` row, then counts pending and denied rows, so of N simultaneous
wrong passwords at most ``max_failures`` reach the password check (the k-th committed attempt
always sees the k-1 before it). A user name's count restarts at its next successful sign-in;
an address's does not (one valid account must not reset guessing at the others). An address
has its own, higher limit, so one client behind a shared NAT or proxy cannot lock out everyone
else behind it. The decision is pure and lives here.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from metricloop.errors import ConfigError, MetricLoopError
from metricloop.project import parse_duration

#: The outcome of an attempt between its count and its password check (counted as a failure).
PENDING = "pending"


@dataclass(frozen=True)
class LoginLimit:
    """At most ``max_failures`` failed sign-ins per user name and ``max_failures_per_address``
    per client address in ``window`` (OWASP's authentication cheat sheet suggests a small number
    such as 5 before throttling); ``max_failures=0`` turns throttling off."""

    max_failures: int = 5
    window: dt.timedelta = dt.timedelta(minutes=5)
    max_failures_per_address: int = 50

    def for_address(self) -> LoginLimit:
        return LoginLimit(self.max_failures_per_address, self.window, self.max_failures_per_address)

    @classmethod
    def from_env(cls) -> LoginLimit:
        """``METRICLOOP_LOGIN_MAX_FAILURES`` (default 5, 0 = off), ``METRICLOOP_LOGIN_WINDOW``
        (a duration, default ``5 minutes``), ``METRICLOOP_LOGIN_MAX_FAILURES_PER_ADDRESS``
        (default 50)."""
        raw_n = os.environ.get("METRICLOOP_LOGIN_MAX_FAILURES", "").strip()
        raw_w = os.environ.get("METRICLOOP_LOGIN_WINDOW", "").strip()
        raw_a = os.environ.get("METRICLOOP_LOGIN_MAX_FAILURES_PER_ADDRESS", "").strip()
        try:
            n = int(raw_n) if raw_n else cls.max_failures
            window = parse_duration(raw_w) if raw_w else cls.window
            per_address = int(raw_a) if raw_a else cls.max_failures_per_address
        except ValueError:
            raise ConfigError(
                f"METRICLOOP_LOGIN_MAX_FAILURES={raw_n!r} / METRICLOOP_LOGIN_WINDOW={raw_w!r} / "
                f"METRICLOOP_LOGIN_MAX_FAILURES_PER_ADDRESS={raw_a!r}: expected whole numbers and a duration "
                "like '5 minutes'",
                zh="METRICLOOP_LOGIN_MAX_FAILURES 与 METRICLOOP_LOGIN_MAX_FAILURES_PER_ADDRESS 应为整数，"
                   "METRICLOOP_LOGIN_WINDOW 应为时长（如 5 minutes）",
            ) from None
        if n < 0 or per_address < 0 or window <= dt.timedelta(0):
            raise ConfigError("METRICLOOP_LOGIN_MAX_FAILURES(_PER_ADDRESS) must be >= 0 and METRICLOOP_LOGIN_WINDOW "
                              "positive",
                              zh="METRICLOOP_LOGIN_MAX_FAILURES(_PER_ADDRESS) 不能为负，"
                                 "METRICLOOP_LOGIN_WINDOW 必须为正")
        return cls(n, window, per_address)


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
