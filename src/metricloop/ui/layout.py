"""The frame every page shares (header, navigation, language switch, sign-out) and the
``@page`` decorator that signs the user in, checks their role and builds the frame.

A page module only writes ``@page("/path", nav="key")`` on ``def build(ctx, ...)``; path
parameters are passed by name. Navigation entries whose page is not built yet (alerts,
incidents, cases, monitors) get a placeholder until their stage registers the real page.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from starlette.concurrency import run_in_threadpool

from metricloop.access.policy import Principal
from metricloop.access.roles import Action
from metricloop.i18n import normalize_locale
from metricloop.service import MetricLoop
from metricloop.ui.texts import t

SESSION_COOKIE = "metricloop_session"
LOCALE_COOKIE = "metricloop_locale"


@dataclass(frozen=True)
class NavItem:
    key: str
    path: str
    text: str  # key in ui/texts.py
    action: str
    stage: str | None = None  # the stage that will provide the page (placeholder until then)


NAV: list[NavItem] = [
    NavItem("home", "/", "nav_home", Action.catalog_read),
    NavItem("dictionary", "/dictionary", "nav_dictionary", Action.catalog_read),
    NavItem("alerts", "/alerts", "nav_alerts", Action.incident_read, "stage_detection"),
    NavItem("incidents", "/incidents", "nav_incidents", Action.incident_read, "stage_workflow"),
    NavItem("cases", "/cases", "nav_cases", Action.incident_read, "stage_review"),
    NavItem("monitors", "/monitors", "nav_monitors", Action.monitor_write, "stage_detection"),
    NavItem("channels", "/admin/channels", "nav_channels", Action.channel_test),
    NavItem("admin", "/admin", "nav_admin", Action.users_manage),
]
#: Pages that stages will provide (no navigation entry of their own).
SLOTS: dict[str, str] = {
    "/incidents/{incident_id}": "stage_workflow",
    "/reviews/{review_id}": "stage_review",
}
REGISTERED: set[str] = set()


class _State:
    ml: MetricLoop | None = None


STATE = _State()


@dataclass(frozen=True)
class PageContext:
    """What a page builder gets: the facade, the signed-in user, their language, the CSRF token."""

    ml: MetricLoop
    principal: Principal
    locale: str
    csrf: str
    path: str

    def t(self, key: str, **params: object) -> str:
        return t(key, self.locale, **params)


def context_for(request: Request) -> PageContext | None:
    ml = STATE.ml
    assert ml is not None, "metricloop.ui.app.mount() was not called"
    found = ml.access.session_principal(request.cookies.get(SESSION_COOKIE))
    if found is None:
        return None
    principal, csrf = found
    locale = normalize_locale(request.cookies.get(LOCALE_COOKIE) or principal.locale
                              or ml.project.config.locale)
    return PageContext(ml, principal, locale, csrf, request.url.path)


def frame(ctx: PageContext, active: str | None) -> None:
    """Header with navigation, language switch and sign-out."""
    ui.add_head_html("<style>.ml-nav a{color:#e5edff;text-decoration:none;padding:6px 10px;border-radius:6px}"
                     ".ml-nav a.active,.ml-nav a:hover{background:rgba(255,255,255,.16);color:#fff}"
                     "body{background:#f3f5f9}</style>")
    other = "en" if ctx.locale == "zh-CN" else "zh-CN"
    with ui.header().classes("items-center justify-between px-6 py-2 bg-[#1e3a8a] text-white"):
        with ui.row().classes("items-center gap-6 no-wrap"):
            ui.link(t("app_name", ctx.locale), "/").classes("text-lg font-bold text-white no-underline")
            with ui.row().classes("ml-nav items-center gap-1 no-wrap"):
                for item in NAV:
                    if ctx.principal.can(item.action):
                        link = ui.link(t(item.text, ctx.locale), item.path)
                        if item.key == active:
                            link.classes("active")
        with ui.row().classes("items-center gap-4 no-wrap text-sm"):
            ui.link(t("switch_language", ctx.locale), f"/locale?lang={other}&next={quote(ctx.path)}") \
                .classes("text-white").props('data-testid="switch-language"')
            role = t(f"role_{ctx.principal.role.value}", ctx.locale)
            ui.label(t("signed_in_as", ctx.locale, user=ctx.principal.display_name or ctx.principal.username,
                       role=role)).classes("opacity-80")
            ui.html(f'<form method="post" action="/logout" style="margin:0">'
                    f'<input type="hidden" name="csrf" value="{escape(ctx.csrf)}">'
                    f'<button type="submit" style="background:none;border:1px solid #fff6;color:#fff;'
                    f'border-radius:6px;padding:3px 10px;cursor:pointer">{escape(t("logout", ctx.locale))}'
                    f'</button></form>', sanitize=False)


Builder = Callable[..., Awaitable[None] | None]


def page(path: str, *, nav: str | None = None, action: str = Action.catalog_read) -> Callable[[Builder], Builder]:
    """Register a signed-in page at ``path``; ``builder(ctx, **path_params)``."""

    def deco(builder: Builder) -> Builder:
        params = [p for name, p in inspect.signature(builder).parameters.items() if name != "ctx"]

        async def wrapper(request: Request, **kwargs: Any) -> Any:
            ctx = await run_in_threadpool(context_for, request)  # a state-store read: off the event loop
            if ctx is None:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            frame(ctx, nav)
            with ui.column().classes("w-full max-w-[1280px] mx-auto p-6 gap-4"):
                if not ctx.principal.can(action):
                    ui.label(ctx.t("forbidden")).classes("text-lg text-red-700")
                    return None
                result = builder(ctx, **kwargs)
                if inspect.isawaitable(result):
                    await result
            return None

        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request), *params])
        wrapper.__name__ = builder.__name__
        ui.page(path, title="MetricLoop", response_timeout=30)(wrapper)
        REGISTERED.add(path)
        return builder

    return deco


def section_title(text: str) -> None:
    ui.label(text).classes("text-xl font-semibold text-gray-800")
