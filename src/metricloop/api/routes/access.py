"""Administration: users, teams, API tokens, metric permissions, row policies, audit log."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Path, Query, Response

from metricloop.access.policy import Principal
from metricloop.access.roles import Action, Role
from metricloop.api.deps import current_principal, get_ml, require
from metricloop.api.errors import ERROR_RESPONSES
from metricloop.api.pagination import Page, PageParams, page_of, page_params, paginate
from metricloop.api.schemas.access import (
    AuditOut,
    PermissionIn,
    PermissionOut,
    PolicyIn,
    PolicyOut,
    TeamIn,
    TeamOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from metricloop.errors import NotFoundError
from metricloop.service import MetricLoop

router = APIRouter(prefix="/api/v1", tags=["access"], responses=ERROR_RESPONSES)
Username = Path(min_length=1, max_length=64)
admin = require(Action.users_manage)


@router.get("/users", response_model=Page[UserOut])
def list_users(page: PageParams = Depends(page_params), principal: Principal = Depends(admin),
               ml: MetricLoop = Depends(get_ml)) -> Page[UserOut]:
    return paginate(ml.access.users(), page, lambda u: UserOut(**asdict(u)))


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, principal: Principal = Depends(admin), ml: MetricLoop = Depends(get_ml)) -> UserOut:
    u = ml.access.create_user(body.username, role=body.role, password=body.password, display_name=body.display_name,
                              email=body.email, team=body.team, attributes=dict(body.attributes), locale=body.locale,
                              actor=principal.username)
    return UserOut(**asdict(u))


@router.get("/users/{username}", response_model=UserOut)
def get_user(username: str = Username, principal: Principal = Depends(current_principal),
             ml: MetricLoop = Depends(get_ml)) -> UserOut:
    """A user (admins: anyone; others: themselves)."""
    if username != principal.username:
        principal.require(Action.users_manage)
    return UserOut(**asdict(ml.access.user(username)))


@router.patch("/users/{username}", response_model=UserOut)
def update_user(body: UserUpdate, username: str = Username, principal: Principal = Depends(admin),
                ml: MetricLoop = Depends(get_ml)) -> UserOut:
    u = ml.access.update_user(username, role=body.role, password=body.password, display_name=body.display_name,
                              email=body.email, team=body.team,
                              attributes=dict(body.attributes) if body.attributes is not None else None,
                              active=body.active, locale=body.locale, actor=principal.username)
    return UserOut(**asdict(u))


@router.get("/teams", response_model=Page[TeamOut])
def list_teams(page: PageParams = Depends(page_params), principal: Principal = Depends(admin),
               ml: MetricLoop = Depends(get_ml)) -> Page[TeamOut]:
    return paginate(ml.access.teams(), page, lambda t: TeamOut(**asdict(t)))


@router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(body: TeamIn, principal: Principal = Depends(admin), ml: MetricLoop = Depends(get_ml)) -> TeamOut:
    t = ml.access.create_team(body.name, label=body.label, attributes=dict(body.attributes), actor=principal.username)
    return TeamOut(**asdict(t))


@router.get("/tokens", response_model=Page[TokenOut])
def list_tokens(username: str | None = Query(None, max_length=64), page: PageParams = Depends(page_params),
                principal: Principal = Depends(current_principal), ml: MetricLoop = Depends(get_ml)) -> Page[TokenOut]:
    """API tokens (admins: anyone's; others: their own). Values are never shown again."""
    if principal.role is not Role.admin:
        username = principal.username
    return paginate(ml.access.tokens(username), page, lambda t: TokenOut(**asdict(t)))


@router.post("/users/{username}/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, username: str = Username, principal: Principal = Depends(current_principal),
                 ml: MetricLoop = Depends(get_ml)) -> TokenCreated:
    """A new token for scripts; the value is in this response only."""
    if username != principal.username:
        principal.require(Action.users_manage)
    token, info = ml.access.create_token(username, body.name, days=body.days, actor=principal.username)
    return TokenCreated(token=token, info=TokenOut(**asdict(info)))


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(token_id: int = Path(ge=1, le=2**62), principal: Principal = Depends(current_principal),
                 ml: MetricLoop = Depends(get_ml)) -> Response:
    mine = {t.id for t in ml.access.tokens(principal.username)}
    if token_id not in mine and principal.role is not Role.admin:
        raise NotFoundError(f"unknown token id {token_id}", zh=f"令牌 {token_id} 不存在")
    ml.access.revoke_token(token_id, actor=principal.username)
    return Response(status_code=204)


@router.get("/permissions", response_model=list[PermissionOut])
def list_permissions(principal: Principal = Depends(admin), ml: MetricLoop = Depends(get_ml)) -> list[PermissionOut]:
    """Metric-level rules: once a metric has a 'read' grant, only grantees see it; 'deny' always wins."""
    return [PermissionOut(**asdict(p)) for p in ml.access.permissions()]


@router.post("/permissions", response_model=PermissionOut, status_code=201)
def grant_permission(body: PermissionIn, principal: Principal = Depends(admin),
                     ml: MetricLoop = Depends(get_ml)) -> PermissionOut:
    p = ml.access.grant(body.metric, body.principal_type, body.principal, body.access, actor=principal.username)
    return PermissionOut(**asdict(p))


@router.delete("/permissions/{permission_id}", status_code=204, response_class=Response)
def revoke_permission(permission_id: int = Path(ge=1, le=2**62), principal: Principal = Depends(admin),
                      ml: MetricLoop = Depends(get_ml)) -> Response:
    ml.access.revoke_permission(permission_id, actor=principal.username)
    return Response(status_code=204)


@router.get("/policies", response_model=list[PolicyOut])
def list_policies(principal: Principal = Depends(admin), ml: MetricLoop = Depends(get_ml)) -> list[PolicyOut]:
    """Row-level policies: a dimension limited to the values of a user attribute."""
    return [PolicyOut(**asdict(p)) for p in ml.access.policies()]


@router.post("/policies", response_model=PolicyOut, status_code=201)
def add_policy(body: PolicyIn, principal: Principal = Depends(admin), ml: MetricLoop = Depends(get_ml)) -> PolicyOut:
    p = ml.access.add_policy(body.name, body.dimension, body.attribute, applies_to_type=body.applies_to_type,
                             applies_to=body.applies_to, actor=principal.username)
    return PolicyOut(**asdict(p))


@router.delete("/policies/{name}", status_code=204, response_class=Response)
def remove_policy(name: str = Path(min_length=1, max_length=64), principal: Principal = Depends(admin),
                  ml: MetricLoop = Depends(get_ml)) -> Response:
    ml.access.remove_policy(name, actor=principal.username)
    return Response(status_code=204)


@router.get("/audit", response_model=Page[AuditOut])
def audit_log(actor: str | None = Query(None, max_length=64), action: str | None = Query(None, max_length=64),
              page: PageParams = Depends(page_params), principal: Principal = Depends(require(Action.audit_read)),
              ml: MetricLoop = Depends(get_ml)) -> Page[AuditOut]:
    """Every query and change: who, what, when, allowed or not. Newest first."""
    rows, total = ml.access.audit_log(limit=page.limit, offset=page.offset, actor=actor, action=action)
    return page_of([AuditOut(**asdict(r)) for r in rows], page, total)


