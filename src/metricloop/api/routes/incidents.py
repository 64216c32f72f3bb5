"""Incidents: list and board (filters by status, owner, team, severity), one incident's story,
and what people do to it (act, assign, comment, action items).

Every incident outside the caller's row scope is left out of listings and answers 404
(``api.scope``); acting needs ``incident.act`` and is recorded in the incident's audit trail
under the caller's user name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query, Request

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.api import scope
from metricloop.api.deps import get_ml, reader_locale, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_params, paginate
from metricloop.api.schemas.incidents import (
    ActionItemOut,
    ActRequest,
    AddActionRequest,
    AlertOut,
    AssignRequest,
    Board,
    BoardColumn,
    CommentRequest,
    IncidentDetail,
    IncidentSummary,
    MessageOut,
    Person,
    TimelineEntry,
    TimerOut,
    UpdateActionRequest,
    local_times,
)
from metricloop.errors import NotFoundError
from metricloop.service import MetricLoop
from metricloop.store.explain_models import Explanation
from metricloop.store.workflow_models import ActionItem, Review
from metricloop.workflow import lifecycle
from metricloop.workflow.bands import bounded, metric_bounds
from metricloop.workflow.service import incident_ref

router = APIRouter(prefix="/api/v1", tags=["incidents"], responses=ERROR_RESPONSES)
Ref = Path(pattern=r"^([Ii][Nn][Cc]-)?[0-9]{1,9}$", description="Incident id: INC-42 or 42.")
SCAN = 5000
Severity = Literal["critical", "high", "medium", "low", "info"]
Status = Literal[lifecycle.STATES]  # type: ignore[valid-type]
BOARD_COLUMNS = ("triggered", "acknowledged", "investigating", "mitigated", "verifying", "done")


def summary(ml: MetricLoop, d: Mapping[str, Any], locale: str, now: dt.datetime) -> IncidentSummary:
    """An incident dict in the reader's language (status, owner and team names)."""
    fixed = {**d, "status_label": lifecycle.STATE_LABELS[d["status"]].render(locale),
             "owner_name": scope.person_name(ml, d.get("owner")) if d.get("owner") else None}
    return IncidentSummary.of(fixed, ml.project.tz, metric_label=scope.metric_label(ml, d["metric"], locale),
                              team_name=scope.team_name(ml, d.get("team"), locale), now=now)


def visible_incidents(ml: MetricLoop, principal: Principal, *, status: list[str] | None = None,
                      owner: str | None = None, team: str | None = None, severity: str | None = None,
                      metric: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
    rows = ml.workflow.list_incidents(status=status, owner=owner, team=team, metric=metric, open_only=open_only,
                                      limit=SCAN)
    return [d for d in rows if scope.sees(ml, principal, d["metric"], d["slice"])
            and (severity is None or d["severity"] == severity)]


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


def build_board(ml: MetricLoop, principal: Principal, locale: str, *, owner: str | None = None,
                team: str | None = None, severity: str | None = None, done: int = 10) -> Board:
    """The board as the API returns it and the UI draws it."""
    now = dt.datetime.now(dt.UTC)
    rows = visible_incidents(ml, principal)
    owners = {d["owner"]: scope.person_name(ml, d["owner"]) for d in rows if d.get("owner")}
    teams = {d["team"]: scope.team_name(ml, d["team"], locale) or d["team"] for d in rows if d.get("team")}
    rows = [d for d in rows if (owner is None or d.get("owner") == owner) and (team is None or d.get("team") == team)
            and (severity is None or d["severity"] == severity)]
    done_label = {"zh-CN": "已结束", "en": "done"}["zh-CN" if locale == "zh-CN" else "en"]
    columns = []
    for status in BOARD_COLUMNS:
        if status == "done":
            finished = [d for d in rows if d["status"] in lifecycle.TERMINAL_STATES]
            finished.sort(key=lambda d: d.get("closed_at") or d["triggered_at"], reverse=True)
            items, label = finished[:done], done_label
        else:
            items = [d for d in rows if d["status"] == status]
            label = lifecycle.STATE_LABELS[status].render(locale)
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
        if status != "done":
            items.sort(key=lambda d: (rank.get(d["severity"], 5), -d["triggered_at"].timestamp()))
        columns.append(BoardColumn(status=status, label=label, count=len(items),
                                   items=[summary(ml, d, locale, now) for d in items]))
    return Board(columns=columns, owners=dict(sorted(owners.items())), teams=dict(sorted(teams.items())))


def detail(ml: MetricLoop, inc: Mapping[str, Any], locale: str) -> IncidentDetail:
    tz = ml.project.tz
    now = dt.datetime.now(dt.UTC)
    with ml.store.session() as s:
        fps = [a["fingerprint"] for a in inc["alerts"]]
        expl_id = s.scalar(sa.select(sa.func.max(Explanation.id)).where(Explanation.anomaly_fingerprint.in_(fps))) \
            if fps else None
        has_review = s.scalar(sa.select(Review.id).where(Review.incident_id == inc["number"])) is not None
    base = summary(ml, inc, locale, now)
    return IncidentDetail(
        **base.model_dump(),
        alerts=[AlertOut(**local_times(bounded(a, metric_bounds(ml, a["metric"])), tz, ("start", "end")))
                for a in inc["alerts"]],
        timeline=[TimelineEntry(**local_times(e, tz, ("at",)), actor_name=scope.person_name(ml, e["actor"]))
                  for e in inc["audit"]],
        actions=[ActionItemOut.of(a, tz, scope.person_name(ml, a["owner"]) if a["owner"] else None)
                 for a in inc["actions"]],
        messages=[MessageOut(**m) for m in inc["messages"]],
        timers=[TimerOut(**local_times(t, tz, ("due_at",))) for t in inc["timers"]],
        explanation_id=expl_id, has_review=has_review,
    )


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
    with ml.store.session() as s:
        row = s.get(ActionItem, action_id)
        incident_id = row.incident_id if row is not None else None
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
