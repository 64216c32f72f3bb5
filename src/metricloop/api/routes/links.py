"""The signed, single-use links of chat messages: ``/a/<incident>/<action>?t=<token>``.

Opening the link (GET) only shows a confirmation page: chat apps fetch links to preview them,
and that fetch must not acknowledge or resolve anything. The button on the page POSTs the token,
which is then spent (single use) and the action applied as the person it was issued to, in one
transaction: if the incident moved on meanwhile (someone else acknowledged or resolved it), the
page says so and nothing is spent. No sign-in is needed: the token is the authority (signed,
expiring, bound to incident and action).
Pages are in the reader's language (``?lang=``, the language cookie, or the browser's).
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse

from metricloop.api.deps import LOCALE_COOKIE, get_ml
from metricloop.api.errors import ErrorBody
from metricloop.errors import MetricLoopError
from metricloop.i18n import Text, normalize_locale
from metricloop.notify.outbox import DbUsedTokens
from metricloop.notify.tokens import verify_action_token
from metricloop.service import MetricLoop
from metricloop.workflow import lifecycle
from metricloop.workflow.service import IncidentMoved

router = APIRouter(tags=["links"])
_PAGE = {"text/html": {"schema": {"type": "string"}}}
HTML: dict[int | str, dict[str, Any]] = {200: {"content": _PAGE, "description": "An HTML page."}}
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"content": _PAGE, "description": "Invalid or expired link."},
    404: {"content": _PAGE, "description": "No such incident."},
    409: {"content": _PAGE, "description": "The link was already used, or the incident's state forbids the action."},
    422: {"model": ErrorBody, "description": "Malformed request."},
}

T = {
    "confirm_title": Text(en="Confirm: {action} {incident}", zh="确认：{action} {incident}"),
    "confirm_body": Text(en="{title} — currently {status}. You act as {actor}.",
                         zh="{title}，当前状态：{status}。操作人：{actor}。"),
    "confirm_button": Text(en="Confirm: {action}", zh="确认{action}"),
    "done_title": Text(en="Done: {incident} is now {status}", zh="已完成：{incident} 当前状态为「{status}」"),
    "done_body": Text(en="Recorded in the incident's timeline as {actor}.", zh="已以 {actor} 的身份记入事件时间线。"),
    "failed_title": Text(en="This link cannot be used", zh="该链接无法使用"),
    "moved_title": Text(en="{incident} has moved on: nothing was changed", zh="{incident} 状态已变化，未做任何更改"),
    "open_incident": Text(en="Open the incident", zh="打开事件详情"),
}
STYLE = ("body{margin:0;font-family:-apple-system,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',Roboto,sans-serif;"
         "background:#f3f5f9;color:#1f2937}.card{max-width:460px;margin:12vh auto;background:#fff;border-radius:10px;"
         "box-shadow:0 2px 12px rgba(0,0,0,.08);padding:28px}h1{font-size:19px;margin:0 0 12px}"
         "p{color:#4b5563;font-size:14px;line-height:1.6}button{margin-top:14px;padding:10px 18px;border:0;"
         "border-radius:6px;background:#2563eb;color:#fff;font-size:15px;cursor:pointer}a{color:#2563eb}")


def _locale(request: Request, lang: str | None) -> str:
    accept = request.headers.get("accept-language", "")
    return normalize_locale(lang or request.cookies.get(LOCALE_COOKIE) or accept.split(",")[0] or None)


def _page(locale: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex">'
            f"<title>{escape(title)} · MetricLoop</title><style>{STYLE}</style></head>"
            f'<body><div class="card"><h1>{escape(title)}</h1>{body}</div></body></html>')
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})


def _action_label(action: str, locale: str) -> str:
    rule = lifecycle.RULES_BY_ACTION.get(action)
    return rule.label.render(locale) if rule else action


def _failed(locale: str, exc: MetricLoopError, ml: MetricLoop | None = None) -> HTMLResponse:
    if isinstance(exc, IncidentMoved) and ml is not None:  # say what the incident is now, and where to see it
        link = f"{ml.workflow.base_url}/incidents/{exc.incident.removeprefix('INC-')}"
        body = (f"<p>{escape(exc.localized(locale))}</p>"
                f'<p><a href="{escape(link)}">{escape(T["open_incident"].render(locale))}</a></p>')
        return _page(locale, T["moved_title"].render(locale, incident=exc.incident), body, 409)
    return _page(locale, T["failed_title"].render(locale), f"<p>{escape(exc.localized(locale))}</p>",
                 exc.http_status if exc.http_status in (403, 404, 409, 422) else 409)


@router.get("/a/{incident}/{action}", response_class=HTMLResponse, responses={**HTML, **ERRORS})
def confirm(request: Request, incident: str = Path(max_length=32), action: str = Path(max_length=32),
            t: str = Query(min_length=1, max_length=2000, description="The signed token from the message."),
            lang: str | None = Query(None, max_length=10), ml: MetricLoop = Depends(get_ml)) -> HTMLResponse:
    """A confirmation page for the link's action (the token is checked, not spent)."""
    from metricloop.views.scope import person_name

    locale = _locale(request, lang)
    wf = ml.workflow
    try:
        claim = verify_action_token(t, wf.action_secret, DbUsedTokens(ml.store), incident_id=incident,
                                    action=action, consume=False)
        inc = wf.incident(claim.incident_id)
        problem = wf.link_problem(claim.incident_id, claim.action)
        if problem is not None:
            raise problem
    except MetricLoopError as exc:
        return _failed(locale, exc, ml)
    label = _action_label(action, locale)
    status = lifecycle.STATE_LABELS[inc["status"]].render(locale)
    text = T["confirm_body"].render(locale, title=inc["title"], status=status, actor=person_name(ml, claim.actor))
    body = (f"<p>{escape(text)}</p>"
            f'<form method="post"><input type="hidden" name="t" value="{escape(t)}">'
            f'<input type="hidden" name="lang" value="{locale}">'
            f'<button type="submit">{escape(T["confirm_button"].render(locale, action=label))}</button></form>')
    return _page(locale, T["confirm_title"].render(locale, action=label, incident=inc["id"]), body)


@router.post("/a/{incident}/{action}", response_class=HTMLResponse, responses={**HTML, **ERRORS})
def apply(request: Request, incident: str = Path(max_length=32), action: str = Path(max_length=32),
          t: str = Form(min_length=1, max_length=2000), lang: str | None = Form(None, max_length=10),
          ml: MetricLoop = Depends(get_ml)) -> HTMLResponse:
    """Spend the token and apply its action; the page says what happened."""
    from metricloop.views.scope import person_name

    locale = _locale(request, lang)
    try:
        claim = verify_action_token(t, ml.workflow.action_secret, DbUsedTokens(ml.store), incident_id=incident,
                                    action=action, consume=False)
        inc = ml.workflow.act_with_token(t, incident=incident, action=action)
    except MetricLoopError as exc:  # nothing was done; when the incident moved on, the link stays unspent
        return _failed(locale, exc, ml)
    status = lifecycle.STATE_LABELS[inc["status"]].render(locale)
    link = f"{ml.workflow.base_url}/incidents/{inc['number']}"
    body = (f"<p>{escape(T['done_body'].render(locale, actor=person_name(ml, claim.actor)))}</p>"
            f'<p><a href="{escape(link)}">{escape(T["open_incident"].render(locale))}</a></p>')
    return _page(locale, T["done_title"].render(locale, incident=inc["id"], status=status), body)
