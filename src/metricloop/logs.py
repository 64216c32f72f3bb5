"""Every log record is redacted before any handler sees it: message, arguments and traceback.

:func:`install` replaces the log-record factory, so the rule holds for every logger and handler
(ours, uvicorn's, a library's) whenever they were configured. A record's traceback is rendered
once, redacted, kept as ``exc_text`` (what :class:`logging.Formatter` prints) and the live
exception is dropped, so no handler can render the unredacted frames on its own. Long messages
are cut at :data:`MAX_LOG_CHARS` so one hostile input cannot flood the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from metricloop.secrets import redact

#: The longest message (and traceback) one record keeps.
MAX_LOG_CHARS = 20_000

_lock = threading.Lock()
_installed = False
_formatter = logging.Formatter()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_LOG_CHARS else text[:MAX_LOG_CHARS] + f"… ({len(text) - MAX_LOG_CHARS} more)"


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render and redact the record's message and traceback in place (idempotent)."""
    if getattr(record, "_ml_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what we can, redacted
        message = f"{record.msg} {record.args!r}"
    clean = _cut(redact(message))
    if clean != message:
        # keep the arguments when redacting them one by one gives the same line (uvicorn's access
        # formatter unpacks them); otherwise the record carries the finished, redacted line
        args = record.args
        if isinstance(args, tuple) and all(isinstance(a, str | int | float) for a in args):
            record.msg = redact(str(record.msg))
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            try:
                same = record.getMessage() == clean
            except Exception:
                same = False
            if not same:
                record.msg, record.args = clean, None
        else:
            record.msg, record.args = clean, None
    if record.exc_info:
        text = record.exc_text or _formatter.formatException(record.exc_info)
        record.exc_text = _cut(redact(text))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = _cut(redact(record.exc_text))
    if record.stack_info:
        record.stack_info = _cut(redact(record.stack_info))
    setattr(record, "_ml_redacted", True)  # noqa: B010 (LogRecord has no such declared attribute)
    return record


class RedactingFilter(logging.Filter):
    """The same rule as a handler filter, for handlers built outside :func:`install`'s reach."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Make every log record of this process pass through :func:`redact_record` (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True
