"""Sign-in and sign-out: the HTML form for the UI, JSON for scripts, and ``/api/v1/me``.

The login form is protected against login CSRF with a double-submit token (a random cookie
that the form must echo); the session cookie is HttpOnly, SameSite=Lax and signed.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from metricloop.access import crypto
from metricloop.access.policy import Principal
from metricloop.access.ratelimit import TooManyAttempts
from metricloop.access.roles import ROLE_ACTIONS, Role
from metricloop.api.deps import (
    LOCALE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    current_principal,
    get_ml,
)
from metricloop.api.errors import ERROR_RESPONSES, THROTTLED
from metricloop.api.schemas.access import LoginRequest, LoginResponse, Me
from metricloop.errors import PermissionDenied
from metricloop.i18n import normalize_locale
from metricloop.service import MetricLoop
from metricloop.store.models import utcnow
from metricloop.ui import login_page

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)


def safe_next(value: str | None) -> str:
    """Only same-site paths: never redirect to another host after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def request_locale(request: Request) -> str:
    return normalize_locale(request.cookies.get(LOCALE_COOKIE) or request.headers.get("accept-language"))


def client_address(request: Request) -> str | None:
    """The caller's address (behind a proxy, run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so this is the browser's, not the proxy's)."""
    return request.client.host if request.client else None


def me_of(principal: Principal, csrf: str | None) -> Me:
    actions = sorted(ROLE_ACTIONS[principal.role]) if principal.role is not Role.admin else ["*"]
    try:
        filters = list(principal.policy_filters())
    except PermissionDenied:
        filters = ["<no rows: attribute missing>"]
    return Me(username=principal.username, display_name=principal.display_name, role=principal.role.value,
              team=principal.team, locale=principal.locale,
              attributes={k: list(v) for k, v in principal.attributes.items()},
              actions=[str(a) for a in actions], row_filters=filters, via=principal.via, csrf_token=csrf)


def _set_session(response: Response, request: Request, cookie: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, cookie, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


# ---------------------------------------------------------------------------- HTML form (UI)
@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str | None = None, error: str | None = None) -> HTMLResponse:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or crypto.new_secret(24)
    message = {"1": "login_failed", "csrf": "login_expired"}.get(error or "")
    response = HTMLResponse(login_page.render(request_locale(request), csrf, safe_next(next), message))
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/", max_age=3600)
    return response


@router.post("/login", include_in_schema=False)
async def login_submit(request: Request, username: str = Form(""), password: str = Form(""),
                       csrf: str = Form(""), next: str = Form("/")) -> Response:
    ml = get_ml(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    target = safe_next(next)
    if not expected or not crypto.same(expected, csrf):
        return RedirectResponse(f"/login?error=csrf&next={target}", status_code=303)
    try:
        result = await run_in_threadpool(ml.access.login, username.strip(), password, client=client_address(request))
    except TooManyAttempts as exc:  # the form again, saying how long to wait
        page = login_page.render(request_locale(request), expected, target, "login_throttled",
                                 minutes=max(1, -(-exc.retry_after // 60)))
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    except PermissionDenied:
        return RedirectResponse(f"/login?error=1&next={target}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    _set_session(response, request, result.cookie, int((result.expires_at - utcnow()).total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    if result.principal.locale:
        response.set_cookie(LOCALE_COOKIE, result.principal.locale, path="/", samesite="lax",
                            max_age=365 * 86400)
    return response


@router.post("/logout", include_in_schema=False)
async def logout_submit(request: Request, csrf: str = Form("")) -> Response:
    ml = get_ml(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    found = await run_in_threadpool(ml.access.session_principal, cookie)
    if found is not None and crypto.same(found[1], csrf):
        await run_in_threadpool(ml.access.logout, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/locale", include_in_schema=False)
def switch_locale(lang: str = Query("zh-CN"), next: str = Query("/")) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LOCALE_COOKIE, normalize_locale(lang), path="/", samesite="lax", max_age=365 * 86400)
    return response


# ---------------------------------------------------------------------------- JSON (API)
@router.post("/api/v1/auth/login", response_model=LoginResponse, responses=THROTTLED)
async def api_login(body: LoginRequest, request: Request, response: Response,
                    ml: MetricLoop = Depends(get_ml)) -> LoginResponse:
    """Sign in with a password; sets the session cookie and returns the CSRF token for writes.
    Too many failures for the user name or from the address → 429 with ``Retry-After``."""
    result = await run_in_threadpool(ml.access.login, body.username, body.password, client=client_address(request))
    _set_session(response, request, result.cookie, int((result.expires_at - utcnow()).total_seconds()))
    return LoginResponse(user=me_of(result.principal, result.csrf), expires_at=result.expires_at)


@router.post("/api/v1/auth/logout", status_code=204, response_class=Response)
async def api_logout(request: Request, principal: Principal = Depends(current_principal),
                     ml: MetricLoop = Depends(get_ml)) -> Response:
    """End the current session (cookie sessions; API tokens are revoked under /tokens)."""
    await run_in_threadpool(ml.access.logout, request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/v1/me", response_model=Me)
async def me(request: Request, principal: Principal = Depends(current_principal),
             ml: MetricLoop = Depends(get_ml)) -> Me:
    """Who am I, what may I do, which row filters apply to me."""
    csrf = None
    if principal.via == "session":
        found = await run_in_threadpool(ml.access.session_principal, request.cookies.get(SESSION_COOKIE))
        csrf = found[1] if found else None
    return me_of(principal, csrf)
