"""The weekly report as a page for people: the link in the weekly chat message
(``/reports/weekly/<monday>``). Signed-in users read it; others are sent to the login page."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from metricloop.access.context import acting_as
from metricloop.access.roles import Action
from metricloop.api.deps import SESSION_COOKIE, get_ml, reader_locale
from metricloop.api.errors import ErrorBody
from metricloop.service import MetricLoop
from metricloop.views import scope

router = APIRouter(tags=["loop"])


@router.get("/reports/weekly/{week_of}", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The report."},
                       303: {"description": "Not signed in: to the login page."},
                       403: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "Not allowed."},
                       422: {"model": ErrorBody, "description": "Not a date."}})
def weekly_page(request: Request, week_of: dt.date = Path(description="Any day of the week, e.g. its Monday."),
                ml: MetricLoop = Depends(get_ml)) -> Response:
    """The week's loop-health report (incidents in the reader's scope)."""
    found = ml.access.session_principal(request.cookies.get(SESSION_COOKIE))
    if found is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    principal = found[0]
    if not principal.can(Action.incident_read):
        return HTMLResponse("<!doctype html><p>forbidden / 无权访问</p>", status_code=403)
    with acting_as(principal):
        rep = ml.review.weekly_report(week_of=week_of, locale=reader_locale(request, principal),
                                      visible=scope.visible_to(ml, principal))
    return HTMLResponse(rep.html)
