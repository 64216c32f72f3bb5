"""One router module per area. Every module here that defines ``router`` is included by
``create_app`` (sorted by name), so adding an area — anomalies, incidents, reviews — is adding
one file: ``router = APIRouter(prefix="/api/v1", tags=[...], responses=ERROR_RESPONSES)``, with
``Depends(require(Action.x))`` on each route and schemas in ``api/schemas/<area>.py``.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def discover() -> list[APIRouter]:
    routers = []
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return routers
