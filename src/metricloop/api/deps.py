"""Dependencies every route uses: the facade, the caller (one auth dependency), role checks.

Authentication, in order: ``Authorization: Bearer mlt_...`` (API tokens, for scripts), then the
signed session cookie (the UI). Cookie-authenticated writes must carry the session's CSRF token
in ``X-CSRF-Token``; bearer requests need none (a browser never adds that header by itself).
The caller becomes the request's principal (``access.context``), so every query made while
serving the request obeys their metric permissions and row policies.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from metricloop.access import crypto
from metricloop.access.context import set_principal
from metricloop.access.policy import Principal
from metricloop.api.errors import NotAuthenticated
from metricloop.errors import PermissionDenied
from metricloop.service import MetricLoop

SESSION_COOKIE = "metricloop_session"
LOCALE_COOKIE = "metricloop_locale"
LOGIN_CSRF_COOKIE = "metricloop_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(auto_error=False, description="API token: `metricloop users token NAME`.")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="Session cookie set by the login page; writes need X-CSRF-Token.")


def get_ml(request: Request) -> MetricLoop:
    ml: MetricLoop = request.app.state.ml
    return ml


async def current_principal(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    cookie: str | None = Depends(cookie_scheme),
) -> Principal:
    """The caller, or 401. Sets the request's principal for the policy-aware facade."""
    ml = get_ml(request)
    principal: Principal | None
    if request.headers.get("authorization"):
        if bearer is None:
            raise NotAuthenticated("the Authorization header must be 'Bearer <token>'",
                                   zh="Authorization 头必须是 'Bearer <令牌>'")
        principal = await run_in_threadpool(ml.access.token_principal, bearer.credentials.strip())
        if principal is None:
            raise NotAuthenticated("invalid, expired or revoked API token", zh="API 令牌无效、已过期或已吊销")
    else:
        found = await run_in_threadpool(ml.access.session_principal, cookie)
        if found is None:
            raise NotAuthenticated("sign in first (session cookie or API token)", zh="请先登录")
        principal, csrf = found
        if request.method not in SAFE_METHODS and not crypto.same(request.headers.get(CSRF_HEADER, ""), csrf):
            raise PermissionDenied(f"missing or wrong CSRF token (send the {CSRF_HEADER} header)",
                                   zh="缺少或错误的 CSRF 令牌")
    set_principal(principal)
    request.state.principal = principal
    return principal


def require(action: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the caller, if their role allows ``action``; else 403."""

    async def dep(principal: Principal = Depends(current_principal)) -> Principal:
        principal.require(action)
        return principal

    dep.__name__ = f"require_{action.replace('.', '_')}"
    return dep


def reader_locale(request: Request, principal: Principal) -> str:
    """The reader's language: the UI's language cookie, their profile, else the project's."""
    from metricloop.i18n import normalize_locale

    chosen = request.query_params.get("lang") or request.cookies.get(LOCALE_COOKIE) or principal.locale
    return normalize_locale(chosen or get_ml(request).project.config.locale)
