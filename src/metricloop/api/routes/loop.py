"""Loop health (MTTA, MTTR, closure and overdue rates), the weekly report, and one loop pass on demand.

Health and the report count only the incidents in the caller's row scope, so a region manager
reads their region's figures.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.schemas.reviews import LoopHealth, PassOut, RunRequest
from metricloop.errors import ConfigError
from metricloop.service import MetricLoop
from metricloop.telemetry import LOOP_PASS_SECONDS
from metricloop.views import scope

router = APIRouter(prefix="/api/v1", tags=["loop"], responses=ERROR_RESPONSES)
log = logging.getLogger("metricloop.api")


@router.get("/loop/health", response_model=LoopHealth)
def loop_health(start: dt.datetime | None = Query(None, description="Incidents triggered at or after this time."),
                end: dt.datetime | None = Query(None, description="... and before this time."),
                principal: Principal = Depends(require(Action.incident_read)),
                ml: MetricLoop = Depends(get_ml)) -> LoopHealth:
    """How fast problems are found, owned and fixed, overall and by owner, team and metric."""
    tz = ml.project.tz
    start, end = (t.replace(tzinfo=tz) if t is not None and t.tzinfo is None else t for t in (start, end))
    return LoopHealth.model_validate(ml.review.health(start=start, end=end, visible=scope.visible_to(ml, principal)))


@router.get("/reports/weekly", response_class=Response,
            responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}},
                                         "text/html": {"schema": {"type": "string"}}},
                             "description": "The week's loop-health report as Markdown or HTML."}})
def weekly_report(request: Request,
                  week_of: dt.date | None = Query(None, description="Any day of the week (default: last week)."),
                  format: Literal["markdown", "html"] = Query("markdown"),
                  principal: Principal = Depends(require(Action.incident_read)),
                  ml: MetricLoop = Depends(get_ml)) -> Response:
    """KPIs, figures by team and the week's incidents (those in the caller's scope)."""
    rep = ml.review.weekly_report(week_of=week_of, locale=reader_locale(request, principal),
                                  visible=scope.visible_to(ml, principal))
    if format == "html":
        return Response(rep.html, media_type="text/html; charset=utf-8")
    return Response(rep.markdown, media_type="text/markdown; charset=utf-8")


def run_loop(ml: MetricLoop, monitor: str | None = None, notify: bool = True) -> PassOut:
    """One pass (detect → explain → incidents → timers) and then delivery; an unusable channel
    configuration is reported in ``delivery_problem`` instead of failing the pass."""
    from metricloop import loop

    t0 = time.perf_counter()
    summary = loop.run_pass(ml, monitor=monitor, notify=False)
    problem = None
    if notify:
        try:
            report = ml.workflow.dispatch()
            summary.messages_sent += report.delivered
            summary.messages_failed += report.dead + report.undeliverable
            if report.unconfigured:  # messages for it wait until its variable is set
                problem = "; ".join(f"channel {k}: {v}" for k, v in report.unconfigured.items())
        except ConfigError as exc:
            problem = exc.message
            log.warning("messages stay queued: %s", exc.message)
    summary.seconds = round(time.perf_counter() - t0, 3)
    LOOP_PASS_SECONDS.set(summary.seconds)
    at = summary.at if summary.at.tzinfo else summary.at.replace(tzinfo=ml.project.tz)
    return PassOut(**{**summary.to_dict(), "at": at}, delivery_problem=problem)


@router.post("/run", response_model=PassOut)
def run(body: RunRequest | None = None, principal: Principal = Depends(require(Action.loop_run)),
        ml: MetricLoop = Depends(get_ml)) -> PassOut:
    """One pass of the loop now (admins): detect → explain → incidents → notify → timers."""
    body = body or RunRequest()
    if body.monitor is not None:
        ml.detection.monitor(body.monitor)  # 404 for an unknown name
    ml.access.audit(principal.username, "loop.run", body.monitor)
    return run_loop(ml, body.monitor, body.notify)
