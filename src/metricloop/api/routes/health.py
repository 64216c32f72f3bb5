"""Liveness and Prometheus metrics (no sign-in: probes and scrapers call them)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from metricloop import __version__
from metricloop.api.deps import get_ml
from metricloop.api.telemetry import scrape
from metricloop.errors import MetricLoopError
from metricloop.secrets import redact
from metricloop.service import MetricLoop

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str = Field(description="ok | degraded")
    version: str
    store: str = Field(description="ok, or the reason the state store cannot be reached")
    metrics: int | None = Field(description="Metrics in the catalog (null when it does not load).")
    catalog_error: str | None = None


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(response: Response, ml: MetricLoop = Depends(get_ml)) -> Health:
    """Is the service able to work: state store reachable, catalog loadable."""
    store = "ok"
    try:
        with ml.store.engine.connect() as con:
            con.execute(text("select 1"))
    except Exception as exc:
        store = redact(str(exc).splitlines()[0])[:300]
    metrics: int | None = None
    catalog_error = None
    try:
        metrics = len(ml.catalog.metrics)
    except MetricLoopError as exc:
        catalog_error = exc.message[:300]
    ok = store == "ok" and catalog_error is None
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", version=__version__, store=store, metrics=metrics,
                  catalog_error=catalog_error)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format."}})
def prometheus(ml: MetricLoop = Depends(get_ml)) -> Response:
    """The service's own health for Prometheus: requests, latency, jobs, loop, outbox."""
    return Response(scrape(ml), media_type="text/plain; version=0.0.4; charset=utf-8")
