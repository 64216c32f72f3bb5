"""Transport guards around the whole app: a request-body size limit and security headers.

Both are plain ASGI middleware so they hold for every route, the API and the NiceGUI UI alike,
and answer before any route code (or body parsing) runs:

* a body larger than ``METRICLOOP_MAX_BODY_BYTES`` (default 1 MiB) gets 413 with the usual
  bilingual error body, whether the client declared ``Content-Length`` or streams it chunked
  (a chunked body is read up to the limit, then replayed to the app, never further);
* every response carries a Content-Security-Policy (what NiceGUI's pages need: inline scripts and
  styles, ``eval`` for Vue's runtime templates, a websocket to the same host), no framing,
  ``nosniff`` and a same-origin referrer policy.
"""

from __future__ import annotations

import json
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metricloop.errors import ConfigError

DEFAULT_MAX_BODY = 1024 * 1024
MAX_BODY_ENV = "METRICLOOP_MAX_BODY_BYTES"

#: The UI (NiceGUI/Vue/Quasar) runs inline scripts and compiles templates at runtime; nothing loads
#: from another origin. ``frame-ancestors 'none'`` replaces X-Frame-Options in current browsers.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
#: FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from jsDelivr.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' https://cdn.jsdelivr.net").replace(
    "style-src 'self'", "style-src 'self' https://cdn.jsdelivr.net").replace(
    "img-src 'self'", "img-src 'self' https://fastapi.tiangolo.com https://cdn.redoc.ly").replace(
    "font-src 'self'", "font-src 'self' https://fonts.gstatic.com")
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def max_body_bytes() -> int:
    """``METRICLOOP_MAX_BODY_BYTES``: a whole number of bytes (``0`` = no limit); default 1 MiB."""
    raw = os.environ.get(MAX_BODY_ENV, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_BODY
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{MAX_BODY_ENV}={raw!r}: expected a whole number of bytes, e.g. 1048576",
                          zh=f"{MAX_BODY_ENV}={raw!r}：应为字节数（整数），如 1048576")
    return value


def too_large_body(limit: int) -> bytes:
    return json.dumps({
        "error": "request_too_large",
        "message": f"the request body is larger than {limit} bytes (the server's limit, {MAX_BODY_ENV})",
        "message_zh": f"请求体超过服务器上限 {limit} 字节（{MAX_BODY_ENV}）",
    }, ensure_ascii=False).encode()


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for any request body over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = max_body_bytes() if limit is None else limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit:
            await self.app(scope, receive, send)
            return
        declared = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        if declared is None and chunked:
            # read the stream up to the limit before the app sees it, then replay it
            try:
                messages = await self._buffer(receive)
            except _TooLarge:
                await self._refuse(send)
                return
            replay = iter(messages)

            async def replayed() -> Message:
                try:
                    return next(replay)
                except StopIteration:
                    return await receive()

            await self.app(scope, replayed, send)
            return
        await self.app(scope, receive, send)

    async def _buffer(self, receive: Receive) -> list[Message]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.limit:
                raise _TooLarge
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = too_large_body(self.limit)
        # "connection: close": the rest of the body is never read, so the connection cannot be reused
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """CSP, no framing, nosniff, referrer policy on every HTTP response (HSTS over https)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path") in DOCS_PATHS else CSP).encode()
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in [(b"content-security-policy", csp), *HEADERS] if n not in present]
                if https and b"strict-transport-security" not in present:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
