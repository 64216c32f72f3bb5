"""Incidents: list and board (filters by status, owner, team, severity), one incident's story,
and what people do to it (act, assign, comment, action items).

Every incident outside the caller's row scope is left out of listings and answers 404
(``views.scope``); acting needs ``incident.act`` and is recorded in the incident's audit trail
under the caller's user name.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.schemas.incidents import (
    ActionItemOut,
    ActRequest,
    AddActionRequest,
    AssignRequest,
    Board,
    CommentRequest,
    IncidentDetail,
    IncidentSummary,
    Person,
    UpdateActionRequest,
)
from metricloop.errors import NotFoundError
from metricloop.service import MetricLoop
from metricloop.views import scope
from metricloop.views.incidents import action_incident, build_board, detail, summary, visible_incidents
from metricloop.workflow import lifecycle
from metricloop.workflow.service import incident_ref

router = APIRouter(prefix="/api/v1", tags=["incidents"], responses=ERROR_RESPONSES)
Ref = Path(pattern=r"^([Ii][Nn][Cc]-)?[0-9]{1,9}$", description="Incident id: INC-42 or 42.")
Severity = Literal["critical", "high", "medium", "low", "info"]
Status = Literal[lifecycle.STATES]  # type: ignore[valid-type]


@router.get("/incidents", response_model=Page[IncidentSummary])
def list_incidents(
    request: Request,
    status: list[Status] | None = Query(None, description="One or more states (repeat the parameter)."),
    owner: str | None = Query(None, max_length=64, description="Person id, e.g. wang.fang."),
    team: str | None = Query(None, max_length=64),
    severity: Severity | None = Query(None),
    metric: str | None = Query(None, max_length=128),
    open_only: bool = Query(False, description="Only incidents that are not closed."),
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require(Action.incident_read)),
    ml: MetricLoop = Depends(get_ml),
) -> Page[IncidentSummary]:
    """Incidents newest first, only those in the caller's data scope."""
    rows = visible_incidents(ml, principal, status=list(status) if status else None, owner=owner, team=team,
                             severity=severity, metric=metric, open_only=open_only)
    locale, now = reader_locale(request, principal), dt.datetime.now(dt.UTC)
    return paginate(rows, page, lambda d: summary(ml, d, locale, now))


@router.get("/incidents/board", response_model=Board)
def board(
    request: Request,
    owner: str | None = Query(None, max_length=64),
    team: str | None = Query(None, max_length=64),
    severity: Severity | None = Query(None),
    done: int = Query(10, ge=0, le=200, description="How many of the most recently finished incidents the last "
                                                      "column shows."),
    principal: Principal = Depends(require(Action.incident_read)),
    ml: MetricLoop = Depends(get_ml),
) -> Board:
    """Columns by state: the open ones, then those finished most recently (closed, false positive, duplicate)."""
    return build_board(ml, principal, reader_locale(request, principal), owner=owner, team=team,
                       severity=severity, done=done)


@router.get("/incidents/{ref}", response_model=IncidentDetail)
def get_incident(request: Request, ref: str = Ref, principal: Principal = Depends(require(Action.incident_read)),
                 ml: MetricLoop = Depends(get_ml)) -> IncidentDetail:
    """Everything about one incident: alerts, timeline (audit), actions, messages, timers."""
    return detail(ml, scope.incident(ml, principal, ref), reader_locale(request, principal))


def _after(ml: MetricLoop, principal: Principal, request: Request, ref: str) -> IncidentDetail:
    return detail(ml, ml.workflow.incident(ref), reader_locale(request, principal))


@router.post("/incidents/{ref}/act", response_model=IncidentDetail)
def act(body: ActRequest, request: Request, ref: str = Ref,
        principal: Principal = Depends(require(Action.incident_act)),
        ml: MetricLoop = Depends(get_ml)) -> IncidentDetail:
    """Move the incident through its lifecycle (declared transitions only; 409 names the allowed ones)."""
    inc = scope.incident(ml, principal, ref)
    if body.duplicate_of is not None:
        scope.incident(ml, principal, body.duplicate_of)
    ml.workflow.act(inc["id"], body.action, actor=principal.username, comment=body.comment,
                    duplicate_of=body.duplicate_of)
    return _after(ml, principal, request, inc["id"])


@router.post("/incidents/{ref}/assign", response_model=IncidentDetail)
def assign(body: AssignRequest, request: Request, ref: str = Ref,
           principal: Principal = Depends(require(Action.incident_act)),
           ml: MetricLoop = Depends(get_ml)) -> IncidentDetail:
    """Hand the incident to another person of owners.yaml."""
    inc = scope.incident(ml, principal, ref)
    ml.workflow.assign(inc["id"], body.owner, actor=principal.username, comment=body.comment)
    return _after(ml, principal, request, inc["id"])


@router.post("/incidents/{ref}/comments", response_model=IncidentDetail, status_code=201)
def comment(body: CommentRequest, request: Request, ref: str = Ref,
            principal: Principal = Depends(require(Action.incident_act)),
            ml: MetricLoop = Depends(get_ml)) -> IncidentDetail:
    """Add a comment to the timeline."""
    inc = scope.incident(ml, principal, ref)
    ml.workflow.comment(inc["id"], body.text, actor=principal.username)
    return _after(ml, principal, request, inc["id"])


@router.post("/incidents/{ref}/action-items", response_model=ActionItemOut, status_code=201)
def add_action(body: AddActionRequest, ref: str = Ref, principal: Principal = Depends(require(Action.incident_act)),
               ml: MetricLoop = Depends(get_ml)) -> ActionItemOut:
    """Add an action item (what will be done, by whom, by when, with what expected effect)."""
    inc = scope.incident(ml, principal, ref)
    item = ml.workflow.add_action(inc["id"], body.title, actor=principal.username, owner=body.owner, due=body.due,
                                  expected_effect=body.expected_effect, link=body.link)
    return ActionItemOut.of(item, ml.project.tz, scope.person_name(ml, item["owner"]) if item["owner"] else None)


@router.patch("/action-items/{action_id}", response_model=ActionItemOut)
def update_action(body: UpdateActionRequest, action_id: int = Path(ge=1, le=2**31 - 1),
                  principal: Principal = Depends(require(Action.incident_act)),
                  ml: MetricLoop = Depends(get_ml)) -> ActionItemOut:
    """Change an action item's status (done records when it took effect, for verification)."""
    incident_id = action_incident(ml, action_id)
    if incident_id is None:
        raise NotFoundError(f"no action item {action_id}", zh=f"没有行动项 {action_id}")
    try:
        scope.incident(ml, principal, incident_ref(incident_id))
    except NotFoundError:
        raise NotFoundError(f"no action item {action_id}", zh=f"没有行动项 {action_id}") from None
    item = ml.workflow.update_action(action_id, actor=principal.username, status=body.status,
                                    effective_at=body.effective_at)
    return ActionItemOut.of(item, ml.project.tz, scope.person_name(ml, item["owner"]) if item["owner"] else None)


@router.get("/people", response_model=list[Person])
def people(request: Request, principal: Principal = Depends(require(Action.incident_read)),
           ml: MetricLoop = Depends(get_ml)) -> list[Person]:
    """People of the responsibility table (owners.yaml): who incidents and actions can go to."""
    from metricloop.i18n import pick

    locale = reader_locale(request, principal)
    owners = ml.workflow.owners
    return [Person(id=pid, name=p.name, team=p.team, team_name=scope.team_name(ml, p.team, locale),
                   title=pick(p.title, locale, "") or None) for pid, p in sorted(owners.people.items())]
