"""One timezone rule for every output: times are shown in the project's timezone, offset included.

The state store keeps UTC (:class:`metricloop.store.models.UTCDateTime` returns aware UTC
values); the warehouse keeps wall-clock times of the project's timezone (naive). Every door —
CLI tables and JSON, API answers, messages — turns a stored moment into the project's local
time with :func:`to_local` and writes it with :func:`iso` (``2026-09-02T10:00:00+08:00``) or
:func:`table_time` (``2026-09-02 10:00 +08:00``), so a reader in Shanghai never has to guess
whether 02:00 meant UTC.

The display timezone is a context variable: the CLI sets it when it opens the project, the API
for each request (:class:`DisplayTimezone`). :data:`Instant` is the pydantic type of a time in an
answer: serialized to JSON in that timezone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar, Token
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

_display: ContextVar[dt.tzinfo | None] = ContextVar("metricloop_display_timezone", default=None)


def set_display_timezone(tz: dt.tzinfo | None) -> Token[dt.tzinfo | None]:
    """Show stored moments in ``tz`` from now on, in this context (returns the token to reset it)."""
    return _display.set(tz)


def display_timezone() -> dt.tzinfo | None:
    return _display.get()


def shown(t: dt.datetime) -> dt.datetime:
    """An aware time moved to the display timezone (naive times and no display zone: unchanged)."""
    tz = _display.get()
    return t.astimezone(tz) if t.tzinfo and tz else t


def to_local(t: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A stored moment (aware, or naive UTC as the store writes it) → aware time in ``tz``."""
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).astimezone(tz)


def wall_clock(t: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A warehouse time (naive wall clock of the project's timezone) → the same moment, aware."""
    return t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)


def local_times(d: Mapping[str, Any], tz: dt.tzinfo, keys: Iterable[str]) -> dict[str, Any]:
    """``d`` with the stored datetimes under ``keys`` in the project's timezone."""
    out = dict(d)
    for k in keys:
        v = out.get(k)
        if isinstance(v, dt.datetime):
            out[k] = to_local(v, tz)
    return out


def localize(value: Any, tz: dt.tzinfo) -> Any:
    """Every *aware* datetime in ``value`` (dicts, lists, tuples) moved to ``tz``; naive ones —
    warehouse periods, already wall clock — are left as they are."""
    if isinstance(value, dt.datetime):
        return value.astimezone(tz) if value.tzinfo else value
    if isinstance(value, Mapping):
        return {k: localize(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [localize(v, tz) for v in value]
    return value


def _whole_minutes(t: dt.datetime) -> dt.datetime:
    """Zone offsets before 1900 have seconds (Shanghai's local mean time, +08:05:43), which
    RFC 3339 cannot write: such a time moves to the nearest whole-minute offset."""
    off = t.utcoffset()
    if off is None or not off.seconds % 60:
        return t
    return t.astimezone(dt.timezone(dt.timedelta(minutes=round(off.total_seconds() / 60))))


def offset(t: dt.datetime) -> str:
    """``+08:00`` (``+00:00`` for UTC, never ``Z``)."""
    raw = _whole_minutes(t).strftime("%z")
    return f"{raw[:3]}:{raw[3:5]}" if raw else ""


def iso(t: dt.datetime) -> str:
    """ISO 8601 with the offset: ``2026-09-02T10:00:00+08:00`` (fractions of a second dropped)."""
    return _whole_minutes(t).isoformat(timespec="seconds")


def table_time(t: dt.datetime) -> str:
    """For a table cell: ``2026-09-02 10:00 +08:00`` (seconds only when there are some)."""
    t = _whole_minutes(t)
    shown = t.strftime("%Y-%m-%d %H:%M:%S" if t.second else "%Y-%m-%d %H:%M")
    return f"{shown} {offset(t)}" if t.tzinfo else shown


def _json(t: dt.datetime) -> str:
    return iso(shown(t)) if t.tzinfo else t.isoformat()


#: A time in an API answer: an aware moment is written in the project's timezone with its offset.
Instant = Annotated[
    dt.datetime,
    PlainSerializer(_json, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class DisplayTimezone:
    """ASGI middleware: every request of the app answers in the project's timezone."""

    def __init__(self, app: ASGIApp, tz: dt.tzinfo) -> None:
        self.app = app
        self.tz = tz

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                      send: Callable[[Any], Awaitable[None]]) -> None:
        token = _display.set(self.tz)
        try:
            await self.app(scope, receive, send)
        finally:
            _display.reset(token)
