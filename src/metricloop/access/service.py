"""Access control use cases: users, teams, tokens, sessions, permissions, policies, audit.

Every door resolves the caller to a :class:`Principal` here (password + session cookie for the
UI, bearer token for scripts) and then works inside ``acting_as(principal)``, so metric
permissions and row policies apply in the query compiler. Every query and every change is
written to the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session

from metricloop.access import crypto
from metricloop.access.context import acting_as
from metricloop.access.policy import (
    MetricRule,
    PolicyRule,
    Principal,
    applicable_policies,
    merge_attributes,
    readable,
)
from metricloop.access.ratelimit import PENDING, LoginLimit, TooManyAttempts, retry_after
from metricloop.access.roles import Role
from metricloop.catalog.models import Metric
from metricloop.engine.query import MetricQuery
from metricloop.errors import ConfigError, ConflictError, NotFoundError, PermissionDenied
from metricloop.secrets import redact
from metricloop.store.access_models import (
    ApiToken,
    AuditEvent,
    MetricPermission,
    RowPolicy,
    Setting,
    Team,
    UiSession,
    User,
)
from metricloop.store.models import utcnow

if TYPE_CHECKING:
    from metricloop.context import Context, QueryResult

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 8
SESSION_HOURS = 12
SYSTEM = Principal(username="system", role=Role.admin, via="system")
TOKEN_CACHE_SECONDS = 2.0
#: audited actions that change a principal (role, team, attributes, tokens, permissions, policies)
PRINCIPAL_CHANGES = ("user.", "token.", "team.", "permission.", "policy.")


@dataclass(frozen=True)
class UserInfo:
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
    created_at: dt.datetime
    last_login_at: dt.datetime | None


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    label: dict[str, str]
    attributes: dict[str, Any]


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked: bool


@dataclass(frozen=True)
class PermissionInfo:
    id: int
    metric: str
    principal_type: str
    principal: str
    access: str


@dataclass(frozen=True)
class PolicyInfo:
    id: int
    name: str
    dimension: str
    attribute: str
    applies_to_type: str
    applies_to: str | None


@dataclass(frozen=True)
class AuditInfo:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class LoginResult:
    cookie: str
    csrf: str
    principal: Principal
    expires_at: dt.datetime


def _user_info(u: User) -> UserInfo:
    return UserInfo(u.id, u.username, u.display_name, u.email, u.role, u.team, dict(u.attributes or {}), u.locale,
                    u.active, u.password_hash is not None, u.created_at, u.last_login_at)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ConfigError(f"role {value!r} is not one of {', '.join(r.value for r in Role)}",
                          zh=f"角色 {value!r} 无效（可选：{', '.join(r.value for r in Role)}）") from None


def _check_attributes(attributes: dict[str, Any] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in (attributes or {}).items():
        if not re.match(r"^[a-z][a-z0-9_]*$", key):
            raise ConfigError(f"attribute name {key!r} must be lower-case letters, digits and _")
        items = value if isinstance(value, list | tuple) else [value]
        out[key] = [str(v) for v in items]
    return out


class AccessService:
    """Users, roles, sessions, tokens, permissions, row policies and the audit log."""

    def __init__(self, ctx: Context, login_limit: LoginLimit | None = None) -> None:
        self.ctx = ctx
        self._key: str | None = None
        self.login_limit = login_limit or LoginLimit.from_env()
        # token digest -> (monotonic time read, principal): see token_principal
        self._tokens: dict[str, tuple[float, Principal]] = {}
        self._tokens_lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def _session(self) -> Any:
        return self.ctx.store.session()

    @staticmethod
    def _get_user(s: Session, username: str) -> User:
        u = s.scalars(select(User).where(User.username == username)).first()
        if u is None:
            raise NotFoundError(f"unknown user '{username}'", zh=f"用户 '{username}' 不存在")
        return u

    def secret_key(self) -> str:
        """The key that signs session cookies: ``METRICLOOP_SECRET_KEY`` or one generated and
        kept in the state store, so every worker process shares it and restarts keep sessions."""
        if self._key:
            return self._key
        env = os.environ.get("METRICLOOP_SECRET_KEY")
        if env:
            self._key = env
            return env
        with self._session() as s:
            row = s.get(Setting, "session_key")
            key = row.value if row else None
        if key is None:
            try:
                with self._session() as s:
                    s.add(Setting(key="session_key", value=crypto.new_secret(48)))
            except sa.exc.IntegrityError:
                pass  # another process created it first; read theirs
            with self._session() as s:
                row = s.get(Setting, "session_key")
                assert row is not None
                key = row.value
        self._key = key
        return key

    # ------------------------------------------------------------------ audit
    def audit(self, actor: str, action: str, target: str | None = None, *, outcome: str = "ok",
              at: dt.datetime | None = None, **detail: Any) -> None:
        if action.startswith(PRINCIPAL_CHANGES):  # every change to who may do what is audited here
            with self._tokens_lock:
                self._tokens.clear()
        with self._session() as s:
            s.add(AuditEvent(actor=actor, action=action, target=(target or "")[:256] or None, outcome=outcome,
                             detail=_jsonable(detail), at=at or utcnow()))

    def audit_log(self, *, limit: int = 50, offset: int = 0, actor: str | None = None,
                  action: str | None = None) -> tuple[list[AuditInfo], int]:
        with self._session() as s:
            q = select(AuditEvent)
            if actor:
                q = q.where(AuditEvent.actor == actor)
            if action:
                q = q.where(AuditEvent.action == action)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(desc(AuditEvent.id)).limit(limit).offset(offset))
            return [AuditInfo(r.id, r.at, r.actor, r.action, r.target, r.outcome, dict(r.detail or {}))
                    for r in rows], total

    # ------------------------------------------------------------------ teams
    def create_team(self, name: str, *, label: dict[str, str] | None = None,
                    attributes: dict[str, Any] | None = None, actor: str = "system") -> TeamInfo:
        if not USERNAME.match(name):
            raise ConfigError(f"team name {name!r} must be lower-case letters, digits, '.', '_' or '-'")
        attrs = _check_attributes(attributes)
        with self._session() as s:
            if s.scalars(select(Team).where(Team.name == name)).first():
                raise ConflictError(f"team '{name}' already exists", zh=f"团队 '{name}' 已存在")
            t = Team(name=name, label=label or {}, attributes=attrs)
            s.add(t)
            s.flush()
            info = TeamInfo(t.id, t.name, dict(t.label), dict(t.attributes))
        self.audit(actor, "team.create", name, attributes=attrs)
        return info

    def teams(self) -> list[TeamInfo]:
        with self._session() as s:
            return [TeamInfo(t.id, t.name, dict(t.label or {}), dict(t.attributes or {}))
                    for t in s.scalars(select(Team).order_by(Team.name))]

    # ------------------------------------------------------------------ users
    def create_user(self, username: str, *, role: str = "viewer", password: str | None = None,
                    display_name: str | None = None, email: str | None = None, team: str | None = None,
                    attributes: dict[str, Any] | None = None, locale: str | None = None,
                    actor: str = "system") -> UserInfo:
        if not USERNAME.match(username):
            raise ConfigError(f"user name {username!r} must be 2-64 lower-case letters, digits, '.', '_' or '-'",
                              zh=f"用户名 {username!r} 只能包含小写字母、数字、'.'、'_'、'-'（2-64 个字符）")
        r = _role(role)
        attrs = _check_attributes(attributes)
        team = team or None
        if password is not None:
            _check_password(password)
        with self._session() as s:
            if s.scalars(select(User).where(User.username == username)).first():
                raise ConflictError(f"user '{username}' already exists", zh=f"用户 '{username}' 已存在")
            if team and not s.scalars(select(Team).where(Team.name == team)).first():
                raise NotFoundError(f"unknown team '{team}' (create it first: metricloop users team-add)",
                                    zh=f"团队 '{team}' 不存在")
            u = User(username=username, role=r.value, display_name=display_name, email=email, team=team,
                     attributes=attrs, locale=locale, active=True,
                     password_hash=crypto.hash_password(password) if password else None)
            s.add(u)
            s.flush()
            info = _user_info(u)
        self.audit(actor, "user.create", username, role=r.value, team=team, attributes=attrs)
        return info

    def update_user(self, username: str, *, role: str | None = None, password: str | None = None,
                    display_name: str | None = None, email: str | None = None, team: str | None = None,
                    clear_team: bool = False, attributes: dict[str, Any] | None = None,
                    active: bool | None = None, locale: str | None = None, actor: str = "system") -> UserInfo:
        changed: dict[str, Any] = {}
        with self._session() as s:
            u = self._get_user(s, username)
            if role is not None:
                u.role = changed["role"] = _role(role).value
            if password is not None:
                _check_password(password)
                u.password_hash = crypto.hash_password(password)
                changed["password"] = "changed"
            if display_name is not None:
                u.display_name = changed["display_name"] = display_name
            if email is not None:
                u.email = changed["email"] = email
            if team is not None:
                if not s.scalars(select(Team).where(Team.name == team)).first():
                    raise NotFoundError(f"unknown team '{team}'", zh=f"团队 '{team}' 不存在")
                u.team = changed["team"] = team
            if clear_team:
                u.team = changed["team"] = None
            if attributes is not None:
                u.attributes = changed["attributes"] = _check_attributes(attributes)
            if active is not None:
                u.active = changed["active"] = active
                if not active:  # a disabled user is signed out everywhere
                    for sess in s.scalars(select(UiSession).where(UiSession.user_id == u.id,
                                                                  UiSession.revoked_at.is_(None))):
                        sess.revoked_at = utcnow()
            if locale is not None:
                u.locale = changed["locale"] = locale
            s.flush()
            info = _user_info(u)
        self.audit(actor, "user.update", username, **changed)
        return info

    def users(self) -> list[UserInfo]:
        with self._session() as s:
            return [_user_info(u) for u in s.scalars(select(User).order_by(User.username))]

    def user(self, username: str) -> UserInfo:
        with self._session() as s:
            return _user_info(self._get_user(s, username))

    def has_users(self) -> bool:
        with self._session() as s:
            return bool(s.scalar(select(func.count()).select_from(User)))

    # ------------------------------------------------------------------ principals
    def principal(self, username: str, *, via: str = "system") -> Principal:
        """Build the principal of an active user: role, merged attributes, rules, policies."""
        with self._session() as s:
            u = self._get_user(s, username)
            if not u.active:
                raise PermissionDenied(f"user '{username}' is disabled", zh=f"用户 '{username}' 已停用")
            return self._principal(s, u, via)

    @staticmethod
    def _principal(s: Session, u: User, via: str) -> Principal:
        team = s.scalars(select(Team).where(Team.name == u.team)).first() if u.team else None
        rules = tuple(MetricRule(p.metric, p.principal_type, p.principal, p.access)
                      for p in s.scalars(select(MetricPermission).order_by(MetricPermission.id)))
        all_policies = [PolicyRule(p.name, p.dimension, p.attribute, p.applies_to_type, p.applies_to)
                        for p in s.scalars(select(RowPolicy).order_by(RowPolicy.id))]
        return Principal(
            username=u.username, role=Role(u.role), user_id=u.id, team=u.team, display_name=u.display_name,
            attributes=merge_attributes(team.attributes if team else None, u.attributes),
            rules=rules, policies=applicable_policies(all_policies, username=u.username, role=u.role, team=u.team),
            via=via, locale=u.locale)

    def authenticate(self, username: str, password: str, *, client: str | None = None,
                     now: dt.datetime | None = None) -> Principal:
        """Check a password; failures are audited (with the client address) and say nothing about
        which part was wrong. After too many failures for the user name or from the address,
        :class:`TooManyAttempts` — before the password is even looked at.

        The attempt's audit row is committed *before* the count (as ``pending``), so concurrent
        attempts cannot all slip under the limit; an unknown user name costs the same argon2
        verification as a known one, so timing does not tell which names exist."""
        now = now or utcnow()
        actor = username[:64] or "anonymous"
        with self._session() as s:
            attempt = AuditEvent(actor=actor, action="login", target=username[:256] or None, outcome=PENDING,
                                 detail=_jsonable({"client": client}), at=now)
            s.add(attempt)
            s.flush()
            attempt_id = attempt.id
        try:
            wait = self.login_wait(username, client, now=now, exclude=attempt_id)
            if wait is not None:
                self._resolve(attempt_id, "throttled", detail={"client": client, "retry_after": wait})
                raise TooManyAttempts(wait)
            principal: Principal | None = None
            with self._session() as s:
                u = s.scalars(select(User).where(User.username == username)).first()
                usable = bool(u and u.active and u.password_hash)
                # always one argon2 verification: a dummy hash for unknown, disabled or token-only users
                matches = crypto.verify_password(u.password_hash if usable and u and u.password_hash
                                                 else crypto.dummy_hash(), password)
                if usable and matches:
                    assert u is not None and u.password_hash is not None
                    if crypto.needs_rehash(u.password_hash):
                        u.password_hash = crypto.hash_password(password)
                    u.last_login_at = now
                    principal = self._principal(s, u, "session")
        except BaseException as exc:
            if not isinstance(exc, TooManyAttempts):
                with contextlib.suppress(Exception):  # the store may be what failed
                    self._resolve(attempt_id, "error")
            raise
        if principal is None:
            self._resolve(attempt_id, "denied")
            raise PermissionDenied("wrong user name or password", zh="用户名或密码错误")
        self._resolve(attempt_id, "ok", actor=username)
        return principal

    def _resolve(self, attempt_id: int, outcome: str, *, actor: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        """Settle a ``pending`` sign-in row: ok, denied, throttled (or error). One UPDATE, no read
        first: under SQLite a read that turns into a write can fail at once with "locked"."""
        values: dict[str, Any] = {"outcome": outcome}
        if actor:
            values["actor"] = actor
        if detail is not None:
            values["detail"] = _jsonable(detail)
        with self._session() as s:
            s.execute(sa.update(AuditEvent).where(AuditEvent.id == attempt_id).values(**values))

    def login_wait(self, username: str, client: str | None = None, *, now: dt.datetime | None = None,
                   exclude: int | None = None) -> int | None:
        """Seconds before ``username`` (or anyone at ``client``) may try to sign in again; None
        when allowed now. Counted from the shared audit log, so every worker agrees: denied
        attempts in the window, plus attempts still ``pending`` (in flight in any worker) except
        ``exclude`` (the caller's own)."""
        limit = self.login_limit
        if limit.max_failures <= 0:
            return None
        now = now or utcnow()
        since = now - limit.window
        # no upper bound on the time: an attempt that started a moment after ``now`` in another
        # worker but was counted already must stay counted once it is denied
        failed = sa.and_(AuditEvent.action == "login", AuditEvent.at > since,
                         AuditEvent.outcome.in_(("denied", PENDING)))
        if exclude is not None:
            failed = sa.and_(failed, AuditEvent.id != exclude)
        with self._session() as s:
            last_ok = s.scalar(select(func.max(AuditEvent.at)).where(
                AuditEvent.action == "login", AuditEvent.outcome == "ok", AuditEvent.target == username[:256],
                AuditEvent.at > since))
            by_name = select(AuditEvent.at).where(failed, AuditEvent.target == username[:256])
            if last_ok is not None:
                by_name = by_name.where(AuditEvent.at > last_ok)  # a success starts the name's count again
            waits = [retry_after([min(t, now) for t in s.scalars(by_name)], now, limit)]
            if client:
                by_client = select(AuditEvent.at).where(failed, AuditEvent.detail["client"].as_string() == client)
                waits.append(retry_after([min(t, now) for t in s.scalars(by_client)], now, limit.for_address()))
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest.total_seconds()))

    # ------------------------------------------------------------------ sessions (UI)
    def login(self, username: str, password: str, *, hours: float = SESSION_HOURS, client: str | None = None,
              now: dt.datetime | None = None) -> LoginResult:
        principal = self.authenticate(username, password, client=client, now=now)
        sid = crypto.new_secret()
        expires = utcnow() + dt.timedelta(hours=hours)
        with self._session() as s:
            s.add(UiSession(id=crypto.digest(sid), user_id=principal.user_id, expires_at=expires))
        key = self.secret_key()
        return LoginResult(crypto.sign_session(key, sid, username, expires), crypto.csrf_for(key, sid), principal,
                           expires)

    def session_principal(self, cookie: str | None) -> tuple[Principal, str] | None:
        """The principal and CSRF token of a valid, unrevoked session cookie, else None."""
        if not cookie:
            return None
        key = self.secret_key()
        claims = crypto.read_session(key, cookie)
        if claims is None:
            return None
        sid = str(claims["sid"])
        with self._session() as s:
            row = s.get(UiSession, crypto.digest(sid))
            if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
                return None
            u = s.get(User, row.user_id)
            if u is None or not u.active:
                return None
            return self._principal(s, u, "session"), crypto.csrf_for(key, sid)

    def logout(self, cookie: str | None) -> None:
        claims = crypto.read_session(self.secret_key(), cookie) if cookie else None
        if claims is None:
            return
        with self._session() as s:
            row = s.get(UiSession, crypto.digest(str(claims["sid"])))
            if row is not None and row.revoked_at is None:
                row.revoked_at = utcnow()
        self.audit(str(claims.get("sub") or "anonymous"), "logout")

    def purge_sessions(self) -> int:
        """Delete expired or revoked sessions (a scheduler job)."""
        cutoff = utcnow()
        with self._session() as s:
            result = s.execute(sa.delete(UiSession).where(
                (UiSession.expires_at < cutoff) | UiSession.revoked_at.is_not(None)))
            return int(result.rowcount or 0)

    # ------------------------------------------------------------------ API tokens
    def create_token(self, username: str, name: str, *, days: int | None = None,
                     actor: str = "system") -> tuple[str, TokenInfo]:
        """A new bearer token; the returned value is shown once and stored only as a digest."""
        token = crypto.new_api_token()
        expires = utcnow() + dt.timedelta(days=days) if days else None
        with self._session() as s:
            u = self._get_user(s, username)
            row = ApiToken(user_id=u.id, name=name[:128], prefix=token[:10], digest=crypto.digest(token),
                           expires_at=expires)
            s.add(row)
            s.flush()
            info = TokenInfo(row.id, username, row.name, row.prefix, row.created_at, row.expires_at, None, False)
        self.audit(actor, "token.create", username, name=name, token_id=info.id)
        return token, info

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        with self._session() as s:
            q = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if username:
                q = q.where(User.username == username)
            return [TokenInfo(t.id, uname, t.name, t.prefix, t.created_at, t.expires_at, t.last_used_at,
                              t.revoked_at is not None) for t, uname in s.execute(q)]

    def revoke_token(self, token_id: int, *, actor: str = "system") -> None:
        with self._session() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"unknown token id {token_id}", zh=f"令牌 {token_id} 不存在")
            row.revoked_at = utcnow()
        self.audit(actor, "token.revoke", str(token_id))

    def token_principal(self, token: str) -> Principal | None:
        """The token's user with their permissions and row policies, or None.

        The token (revoked, expired) and its user (active) are read on every call, from any
        process's changes. The permissions and row policies that make up the principal are
        reused for ``TOKEN_CACHE_SECONDS`` (an API client sends many requests a second; reading
        them each time cost ~2 ms of a ~7 ms request): a change made through this process
        applies at once, one made by another process (``metricloop users grant ...``) within
        that time.
        """
        if not token.startswith(crypto.TOKEN_PREFIX):
            return None
        digest = crypto.digest(token)
        with self._session() as s:
            found = s.execute(
                select(ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at, User.id,
                       User.active).join(User, User.id == ApiToken.user_id).where(ApiToken.digest == digest)
            ).first()
            now = utcnow()
            if (found is None or found[1] is not None or (found[2] is not None and found[2] <= now)
                    or not found[5]):
                with self._tokens_lock:
                    self._tokens.pop(digest, None)
                return None
            token_id, _, _, last_used, user_id, _ = found
            if last_used is None or now - last_used > dt.timedelta(minutes=1):
                # at most one write a minute per token
                s.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
            with self._tokens_lock:
                hit = self._tokens.get(digest)
            if hit is not None and time.monotonic() - hit[0] < TOKEN_CACHE_SECONDS:
                return hit[1]
            u = s.get(User, user_id)
            if u is None:
                return None
            principal = self._principal(s, u, "token")
        with self._tokens_lock:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[digest] = (time.monotonic(), principal)
        return principal

    # ------------------------------------------------------------------ metric permissions
    def grant(self, metric: str, principal_type: str, principal: str, access: str = "read", *,
              actor: str = "system") -> PermissionInfo:
        if principal_type not in ("user", "team", "role"):
            raise ConfigError(f"principal_type must be user, team or role, not {principal_type!r}")
        if access not in ("read", "deny"):
            raise ConfigError(f"access must be read or deny, not {access!r}")
        if principal_type == "role":
            _role(principal)
        with self._session() as s:
            row = s.scalars(select(MetricPermission).where(
                MetricPermission.metric == metric, MetricPermission.principal_type == principal_type,
                MetricPermission.principal == principal)).first()
            if row is None:
                row = MetricPermission(metric=metric, principal_type=principal_type, principal=principal)
                s.add(row)
            row.access = access
            s.flush()
            info = PermissionInfo(row.id, row.metric, row.principal_type, row.principal, row.access)
        self.audit(actor, "permission.grant", metric, principal_type=principal_type, principal=principal,
                   access=access)
        return info

    def permissions(self) -> list[PermissionInfo]:
        with self._session() as s:
            return [PermissionInfo(p.id, p.metric, p.principal_type, p.principal, p.access)
                    for p in s.scalars(select(MetricPermission).order_by(MetricPermission.id))]

    def revoke_permission(self, permission_id: int, *, actor: str = "system") -> None:
        with self._session() as s:
            row = s.get(MetricPermission, permission_id)
            if row is None:
                raise NotFoundError(f"unknown permission id {permission_id}")
            s.delete(row)
        self.audit(actor, "permission.revoke", str(permission_id))

    # ------------------------------------------------------------------ row policies
    def add_policy(self, name: str, dimension: str, attribute: str, *, applies_to_type: str = "all",
                   applies_to: str | None = None, actor: str = "system") -> PolicyInfo:
        if applies_to_type not in ("all", "role", "team", "user"):
            raise ConfigError(f"applies_to_type must be all, role, team or user, not {applies_to_type!r}")
        if applies_to_type != "all" and not applies_to:
            raise ConfigError(f"a policy for one {applies_to_type} needs applies_to")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", dimension):
            raise ConfigError(f"dimension {dimension!r} must be a dimension name such as region",
                              zh=f"维度 {dimension!r} 必须是维度名称，例如 region")
        _check_attributes({attribute: []})
        with self._session() as s:
            if s.scalars(select(RowPolicy).where(RowPolicy.name == name)).first():
                raise ConflictError(f"row policy '{name}' already exists", zh=f"行级策略 '{name}' 已存在")
            row = RowPolicy(name=name, dimension=dimension, attribute=attribute, applies_to_type=applies_to_type,
                            applies_to=applies_to if applies_to_type != "all" else None)
            s.add(row)
            s.flush()
            info = PolicyInfo(row.id, row.name, row.dimension, row.attribute, row.applies_to_type, row.applies_to)
        self.audit(actor, "policy.create", name, dimension=dimension, attribute=attribute,
                   applies_to_type=applies_to_type, applies_to=applies_to)
        return info

    def policies(self) -> list[PolicyInfo]:
        with self._session() as s:
            return [PolicyInfo(p.id, p.name, p.dimension, p.attribute, p.applies_to_type, p.applies_to)
                    for p in s.scalars(select(RowPolicy).order_by(RowPolicy.id))]

    def remove_policy(self, name: str, *, actor: str = "system") -> None:
        with self._session() as s:
            row = s.scalars(select(RowPolicy).where(RowPolicy.name == name)).first()
            if row is None:
                raise NotFoundError(f"unknown row policy '{name}'")
            s.delete(row)
        self.audit(actor, "policy.remove", name)

    # ------------------------------------------------------------------ guarded use cases
    def visible_metrics(self, principal: Principal, metrics: list[Metric]) -> list[Metric]:
        catalog = self.ctx.catalog
        return [m for m in metrics if readable(catalog, principal, m.name)]

    def require_metric(self, principal: Principal, name: str) -> Metric:
        """The metric if ``principal`` may read it; hidden metrics look unknown (no existence leak)."""
        metric = self.ctx.catalog.metric(name)
        if not readable(self.ctx.catalog, principal, name):
            raise NotFoundError(f"unknown metric '{name}'", zh=f"未知指标 '{name}'")
        return metric

    def query(self, principal: Principal, query: MetricQuery, *, action: str = "query") -> QueryResult:
        """Run ``query`` as ``principal`` (permissions + row policies in the compiler), audited."""
        detail: dict[str, Any] = {"metrics": query.metrics, "group_by": query.group_by, "where": query.where,
                                  "start": query.start, "end": query.end}
        target = ",".join(query.metrics)
        try:
            principal.require(action)
            with acting_as(principal):
                result = self.ctx.query(query)
        except PermissionDenied as exc:
            self.audit(principal.username, action, target, outcome="denied", reason=exc.message, **detail)
            raise
        except Exception as exc:
            self.audit(principal.username, action, target, outcome="error", reason=str(exc)[:500], **detail)
            raise
        self.audit(principal.username, action, target, rows=result.table.num_rows,
                   policy_filters=list(principal.policy_filters()), **detail)
        return result


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters",
                          zh=f"密码至少需要 {MIN_PASSWORD} 个字符")


def _jsonable(value: Any) -> Any:
    """An audit detail as JSON; text is redacted (a failed query's reason can quote a secret)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))
