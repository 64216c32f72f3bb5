"""Every error of the HTTP API, mapped in one place.

A :class:`MetricLoopError` becomes its ``http_status`` with ``to_dict()`` as the body; a request
that does not match the schema becomes a 422 with the same shape (``error: invalid_request`` and
one issue per field); a state store (or warehouse) that cannot be reached becomes a 503 with
``Retry-After``; anything unexpected is logged and becomes a 500 that leaks nothing.

Messages are redacted and clipped (:data:`MAX_MESSAGE`) off the event loop, so no error text,
however long, holds up other requests.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.concurrency import run_in_threadpool

from metricloop.errors import MetricLoopError, PermissionDenied, StoreError
from metricloop.secrets import redact
from metricloop.store.db import unavailable

log = logging.getLogger("metricloop.api")


class NotAuthenticated(PermissionDenied):
    """No valid session cookie or bearer token (HTTP 401)."""

    http_status = 401
    code = "not_authenticated"


class ErrorIssue(BaseModel):
    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Machine-readable code: not_found, conflict, definition_error ...")
    message: str = Field(description="One line in English.")
    message_zh: str | None = Field(default=None, description="The same line in Chinese, when translated.")
    location: dict[str, Any] | None = Field(default=None, description="File, line and field of the problem.")
    issues: list[ErrorIssue] | None = Field(default=None, description="Every problem, for validation errors.")


def _body(status: int, desc: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": desc}


#: Declared on every router so the OpenAPI document shows the real error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _body(400, "The query or filter cannot be compiled."),
    401: _body(401, "Not signed in: send a session cookie or 'Authorization: Bearer <token>'."),
    403: _body(403, "Signed in, but not allowed (role, metric permission, row policy or CSRF)."),
    404: _body(404, "No such object (or not visible to you)."),
    409: _body(409, "The current state forbids it (duplicate, stale revision, file-owned definition)."),
    422: _body(422, "Invalid request or definition; 'issues' lists every problem."),
}
#: Declared on the sign-in routes.
THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "Too many failed sign-ins for this user name or from this address; "
          "the Retry-After header says how many seconds to wait.",
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
}


#: The longest message an error answer carries (inputs are quoted at 200 characters already).
MAX_MESSAGE = 2000
#: Seconds a client should wait before retrying when the state store is unreachable.
STORE_RETRY_AFTER = 5


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """Redacted first, then cut: a cut never leaves half a secret behind."""
    out = redact(text)
    return out if len(out) <= limit else out[:limit] + "…"


def error_response(exc: MetricLoopError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
    retry = getattr(exc, "retry_after", None)
    if isinstance(exc, StoreError) and not isinstance(retry, int):
        retry = STORE_RETRY_AFTER
    if isinstance(retry, int):  # throttled or store down: say when to come back (RFC 9110 §10.2.3)
        headers["Retry-After"] = str(retry)
    body = exc.to_dict()
    for key in ("message", "message_zh"):
        value = body.get(key)
        if isinstance(value, str):
            body[key] = clip(value)
    issues = body.get("issues")
    if isinstance(issues, list):
        body["issues"] = [{**i, "message": clip(str(i.get("message", "")), 500)} if isinstance(i, dict) else i
                          for i in issues[:100]]
    return JSONResponse(body, status_code=exc.http_status, headers=headers or None)


def outage_response(reason: str) -> JSONResponse:
    return JSONResponse({"error": "store_unavailable",
                         "message": f"the database cannot be reached right now ({reason}); try again shortly",
                         "message_zh": "暂时无法连接数据库，请稍后重试"},
                        status_code=503, headers={"Retry-After": str(STORE_RETRY_AFTER)})


def invalid_inside_response(exc: ValidationError) -> JSONResponse:
    issues = [{"message": clip(str(e.get("msg", "invalid value")).removeprefix("Value error, "), 500),
               "field": clip(".".join(str(p) for p in e.get("loc", ())), 200) or None} for e in exc.errors()[:100]]
    first = issues[0] if issues else {"message": "invalid value", "field": None}
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    return JSONResponse({"error": "query_error", "message": message, "message_zh": "请求中的取值无效",
                         "issues": issues}, status_code=400)


def invalid_response(exc: RequestValidationError) -> JSONResponse:
    issues = []
    for err in exc.errors()[:100]:
        field = ".".join(str(p) for p in err.get("loc", ()))
        issues.append({"message": clip(str(err.get("msg", "invalid value")).removeprefix("Value error, "), 500),
                       "field": clip(field, 200) or None})
    first = issues[0] if issues else {"message": "invalid request", "field": None}
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(issues) > 1:
        message += f" (and {len(issues) - 1} more)"
    return JSONResponse({"error": "invalid_request", "message": message, "message_zh": "请求参数无效",
                         "issues": issues}, status_code=422)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (called once by ``create_app``)."""

    # the handlers are async (Starlette calls them on the event loop): the text work runs in a thread

    @app.exception_handler(MetricLoopError)
    async def _metricloop_error(request: Request, exc: MetricLoopError) -> JSONResponse:
        return await run_in_threadpool(error_response, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await run_in_threadpool(invalid_response, exc)

    @app.exception_handler(ValidationError)
    async def _invalid_inside(request: Request, exc: ValidationError) -> JSONResponse:
        # a value that passed the request schema but not a model built from it inside (a query the
        # route derives): the caller's input, so a 400 naming the field, not a 500
        return await run_in_threadpool(invalid_inside_response, exc)

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(request: Request, exc: sa_exc.SQLAlchemyError) -> JSONResponse:
        reason = unavailable(exc)
        if reason is not None:
            log.warning("database unreachable on %s %s: %s", request.method, request.url.path, reason)
            return outage_response(reason)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RecursionError):  # never expected; say so plainly instead of a reset connection
            log.error("recursion limit on %s %s", request.method, request.url.path)
        else:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "internal error; the server log has the details",
                             "message_zh": "服务器内部错误，详情见服务日志"}, status_code=500)
