"""The one error tree of MetricLoop.

Every failure a user can cause or meet is a :class:`MetricLoopError`. The CLI prints it as one
line and exits non-zero; the API maps ``http_status`` to a response in one place. Messages never
carry secrets: anything that may hold one goes through :func:`metricloop.secrets.redact` first.

    MetricLoopError
    ├── ConfigError            project files: metricloop.yaml, models/, monitors/, owners, channels
    │   └── DefinitionError    catalog validation; carries every Issue (file, line, field, expected)
    ├── QueryError             a metric query or filter that cannot be compiled
    │   └── UnsupportedError   the target dialect lacks a capability the query needs
    ├── IngestError            a file or payload that cannot be loaded at all
    ├── NotFoundError          a named object does not exist
    ├── ConflictError          the state forbids it (duplicate, illegal transition, stale revision)
    ├── PermissionDenied       the actor may not do or see this
    ├── DeliveryError          a notification channel refused or failed
    └── StoreError             the state store is unreachable or out of date
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in the user's files a problem is: ``models/orders.yaml:14 metrics[2].agg``."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        if self.field:
            where = f"{where} {self.field}" if where else self.field
        return where


class MetricLoopError(Exception):
    """Root of every error MetricLoop raises on purpose."""

    http_status = 500
    code = "error"

    def __init__(self, message: str, *, zh: str | None = None, location: Location | None = None) -> None:
        self.message = message
        self.message_zh = zh
        self.location = location
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location and str(self.location) else self.message

    def localized(self, locale: str) -> str:
        """The one-line message in ``locale`` (zh-CN falls back to English when not translated)."""
        text = self.message_zh if locale.lower().startswith("zh") and self.message_zh else self.message
        return f"{self.location}: {text}" if self.location and str(self.location) else text

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"error": self.code, "message": self.message}
        if self.message_zh:
            out["message_zh"] = self.message_zh
        if self.location:
            out["location"] = {k: v for k, v in vars(self.location).items() if v is not None}
        return out


class ConfigError(MetricLoopError):
    http_status = 422
    code = "config_error"


@dataclass(frozen=True)
class Issue:
    """One validation finding; ``str(issue)`` is the line a user sees."""

    message: str
    location: Location

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


class DefinitionError(ConfigError):
    """One or more problems in the metric definitions; ``issues`` holds all of them."""

    code = "definition_error"

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        first = issues[0] if issues else Issue("invalid definition", Location())
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first.message + more, location=first.location)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["issues"] = [
            {"message": i.message, **{k: v for k, v in vars(i.location).items() if v is not None}} for i in self.issues
        ]
        return out


class QueryError(MetricLoopError):
    http_status = 400
    code = "query_error"


class UnsupportedError(QueryError):
    code = "unsupported"


class IngestError(MetricLoopError):
    http_status = 422
    code = "ingest_error"


class NotFoundError(MetricLoopError):
    http_status = 404
    code = "not_found"


class ConflictError(MetricLoopError):
    http_status = 409
    code = "conflict"


class PermissionDenied(MetricLoopError):
    http_status = 403
    code = "permission_denied"


class DeliveryError(MetricLoopError):
    http_status = 502
    code = "delivery_error"


class StoreError(MetricLoopError):
    http_status = 503
    code = "store_error"


def closest_name(name: str, options: Iterable[str]) -> str | None:
    """The known name most like ``name`` (a typo's likely target), or None when none is close."""
    import difflib

    got = difflib.get_close_matches(name, list(options), n=1, cutoff=0.75)
    return got[0] if got else None


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a message about an unknown ``name``; empty when nothing is close."""
    close = closest_name(name, options)
    return f" (did you mean '{close}'?)" if close else ""
