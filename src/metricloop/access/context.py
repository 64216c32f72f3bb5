"""The acting user of the current request, so every query obeys their policies.

Doors open ``with acting_as(principal):`` around the work they do for a user (the API's auth
dependency does it for every request). Every ``compile`` and ``query`` of the project's
:class:`~metricloop.context.Context` reads :func:`current_principal` (the row-policy hook the
facade installs) and adds the user's row filters inside the compiler, so services that query on
the user's behalf (drill-down, explanation, exports) cannot forget them.
Background work (scheduler, CLI) runs with no principal and sees everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metricloop.access.policy import Principal

_current: ContextVar[Principal | None] = ContextVar("metricloop_principal", default=None)


def current_principal() -> Principal | None:
    return _current.get()


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[Principal | None]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def set_principal(principal: Principal | None) -> None:
    """Set the principal for the rest of the current context (an async request task)."""
    _current.set(principal)
