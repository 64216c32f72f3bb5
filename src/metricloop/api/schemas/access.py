"""Access: the caller, users, teams, API tokens, metric permissions, row policies, audit log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from metricloop.localtime import Instant

RoleName = Literal["admin", "editor", "owner", "analyst", "viewer"]
Attributes = dict[str, list[str]]


class Me(BaseModel):
    username: str
    display_name: str | None
    role: str
    team: str | None
    locale: str | None
    attributes: dict[str, list[str]]
    actions: list[str] = Field(description="What this user may do.")
    row_filters: list[str] = Field(description="Filters added to every query this user runs.")
    via: str = Field(description="session | token")
    csrf_token: str | None = Field(description="Send as X-CSRF-Token on writes made with the session cookie.")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    user: Me
    expires_at: Instant


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str | None
    email: str | None
    role: str
    team: str | None
    attributes: dict[str, Any]
    locale: str | None
    active: bool
    has_password: bool
    created_at: Instant
    last_login_at: Instant | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    role: RoleName = "viewer"
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    display_name: str | None = Field(default=None, max_length=128)
    email: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=64)
    attributes: Attributes = Field(default_factory=dict, examples=[{"region": ["华东"]}])
    locale: Literal["zh-CN", "en"] | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    display_name: str | None = Field(default=None, max_length=128)
    email: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=64)
    attributes: Attributes | None = None
    active: bool | None = None
    locale: Literal["zh-CN", "en"] | None = None


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    label: dict[str, str] = Field(default_factory=dict, examples=[{"zh-CN": "华东大区", "en": "East China"}])
    attributes: Attributes = Field(default_factory=dict)


class TeamOut(BaseModel):
    id: int
    name: str
    label: dict[str, str]
    attributes: dict[str, Any]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="What the token is for.")
    days: int | None = Field(default=None, ge=1, le=3650, description="Expires after this many days.")


class TokenOut(BaseModel):
    id: int
    username: str
    name: str
    prefix: str
    created_at: Instant
    expires_at: Instant | None
    last_used_at: Instant | None
    revoked: bool


class TokenCreated(BaseModel):
    token: str = Field(description="Shown once; only a digest is stored.")
    info: TokenOut


class PermissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field(min_length=1, max_length=128, description="Metric name or glob (payment_*).")
    principal_type: Literal["user", "team", "role"]
    principal: str = Field(min_length=1, max_length=64)
    access: Literal["read", "deny"] = "read"


class PermissionOut(BaseModel):
    id: int
    metric: str
    principal_type: str
    principal: str
    access: str


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    dimension: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                           description="Dimension the rows are limited by, e.g. region.")
    attribute: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
                           description="User/team attribute holding the allowed values, e.g. region.")
    applies_to_type: Literal["all", "role", "team", "user"] = "all"
    applies_to: str | None = Field(default=None, max_length=64)


class PolicyOut(BaseModel):
    id: int
    name: str
    dimension: str
    attribute: str
    applies_to_type: str
    applies_to: str | None


class AuditOut(BaseModel):
    id: int
    at: Instant
    actor: str
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any]
