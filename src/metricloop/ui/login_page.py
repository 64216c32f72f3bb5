"""The sign-in page: a plain HTML form (works without JavaScript), CSRF-protected.

It is served by a FastAPI route, not NiceGUI, because it must set the session cookie in the
HTTP response of a form POST.
"""

from __future__ import annotations

from html import escape

from metricloop.i18n import normalize_locale
from metricloop.ui.texts import t

STYLE = """
body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",Roboto,sans-serif;
background:#f3f5f9;color:#1f2937}
.card{max-width:380px;margin:10vh auto;background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);
padding:32px}
h1{font-size:20px;margin:0 0 4px}p.tag{color:#6b7280;font-size:13px;margin:0 0 24px}
label{display:block;font-size:13px;margin:14px 0 6px;color:#374151}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:10px;border:1px solid #d1d5db;
border-radius:6px;font-size:15px}
button{margin-top:22px;width:100%;padding:11px;border:0;border-radius:6px;background:#2563eb;color:#fff;
font-size:15px;cursor:pointer}
.err{background:#fef2f2;color:#b91c1c;border-radius:6px;padding:8px 10px;font-size:13px;margin-bottom:8px}
.lang{text-align:right;font-size:13px}.lang a{color:#2563eb;text-decoration:none}
"""


def render(locale: str | None, csrf: str, next_url: str = "/", error: str | None = None, **params: object) -> str:
    loc = normalize_locale(locale)
    other = "en" if loc == "zh-CN" else "zh-CN"
    err = f'<div class="err" role="alert">{escape(t(error, loc, **params))}</div>' if error else ""
    return f"""<!doctype html>
<html lang="{loc}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t("login_title", loc))} · MetricLoop</title><style>{STYLE}</style></head>
<body><div class="card">
<div class="lang"><a href="/locale?lang={other}&next=/login">{escape(t("switch_language", loc))}</a></div>
<h1>{escape(t("app_name", loc))}</h1><p class="tag">{escape(t("tagline", loc))}</p>
{err}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{escape(csrf)}"><input type="hidden" name="next" value="{escape(next_url)}">
<label for="username">{escape(t("username", loc))}</label>
<input id="username" name="username" type="text" autocomplete="username" required autofocus>
<label for="password">{escape(t("password", loc))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{escape(t("login_button", loc))}</button>
</form></div></body></html>"""
