"""The HTTP service: one FastAPI app with the REST API, the web UI and the scheduler.

``create_app(ml)`` wires the pieces and holds no business logic: routes (one module per area
in ``api/routes``) call the facade and the stage services; errors map to HTTP in
``api/errors``; auth is one dependency in ``api/deps``; listings page with ``api/pagination``.
The NiceGUI UI is mounted last, on the same app, so API routes always win.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metricloop import __version__
from metricloop.api import errors, routes
from metricloop.api.guards import BodyLimit, SecurityHeaders
from metricloop.errors import MetricLoopError
from metricloop.localtime import DisplayTimezone
from metricloop.service import MetricLoop
from metricloop.telemetry import HTTP_LATENCY, HTTP_REQUESTS

if TYPE_CHECKING:
    from metricloop.scheduler.runner import Scheduler

log = logging.getLogger("metricloop.api")

DESCRIPTION = """
MetricLoop closes the loop of business-metric monitoring (指标监控闭环).

**Authentication**: `Authorization: Bearer <token>` (create one with `metricloop users token NAME`), or the
session cookie set by `POST /api/v1/auth/login` / the login page; cookie-authenticated writes also send
`X-CSRF-Token` (returned by the login and by `GET /api/v1/me`).

**Errors** share one shape (`ErrorBody`): `error` (code), `message`, `message_zh`, `location`, `issues`.

**Row-level policies** apply inside the query compiler: every query, drill-down and export sees only the
caller's rows.
"""

TAGS = [
    {"name": "catalog", "description": "Metric dictionary: definitions, revisions, metric tree; write definitions."},
    {"name": "query", "description": "Metric queries compiled to SQL and run in the warehouse."},
    {"name": "assistant", "description": "Ask in Chinese or English (智能问数): interpretation, rows, chart, SQL."},
    {"name": "ingest", "description": "Loads, rejected rows and data-quality checks."},
    {"name": "auth", "description": "Sign in, sign out, who am I."},
    {"name": "access", "description": "Users, teams, tokens, metric permissions, row policies, audit log."},
    {"name": "monitors", "description": "What to watch: monitor definitions (as revisions) and backtest previews."},
    {"name": "anomalies", "description": "What the monitors found (the alerts inbox) and feedback labels."},
    {"name": "explanations", "description": "Cause analysis: localized slices, drill-down, metric-tree attribution."},
    {"name": "incidents", "description": "The incident board, one incident's story, acknowledge/resolve, actions."},
    {"name": "reviews", "description": "Reviews (复盘), effect verification, the case library, similar cases."},
    {"name": "loop", "description": "Loop health (MTTA, MTTR, closure, overdue), weekly report, run a pass."},
    {"name": "channels", "description": "Notification channels (no secrets), test sends, the outbox."},
    {"name": "links", "description": "Signed single-use links from chat messages (confirmation pages)."},
    {"name": "service", "description": "Health and Prometheus metrics."},
]


class _RequestMetrics:
    """Count and time every request by its route template (not the raw path: bounded labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("/ui" if not scope["path"].startswith("/api/") else "unmatched")
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, template, str(status["code"])).inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - start)


def create_app(ml: MetricLoop, *, ui: bool = True, scheduler: Scheduler | None = None) -> FastAPI:
    """The service for one project. ``ui=False`` serves the API only (tests, API replicas);
    ``scheduler`` runs in the app's lifespan (``metricloop serve``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield {}
        finally:
            if scheduler is not None:
                scheduler.stop()

    app = FastAPI(title="MetricLoop", version=__version__, description=DESCRIPTION, openapi_tags=TAGS,
                  lifespan=lifespan)
    app.state.ml = ml
    try:  # revisions of file edits made while the service was down
        ml.sync_catalog(author="metricloop serve")
    except MetricLoopError as exc:
        log.error("catalog does not load: %s", exc)  # /healthz reports it; the UI shows it
    errors.install(app)
    app.add_middleware(_RequestMetrics)
    app.add_middleware(DisplayTimezone, tz=ml.project.tz)  # every answer's times in the project's zone
    app.add_middleware(BodyLimit)  # 413 before any route reads a byte (METRICLOOP_MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, the 413 included
    for router in routes.discover():
        app.include_router(router)
    if ui:
        from metricloop.ui.app import mount

        mount(app, ml)
    return app
