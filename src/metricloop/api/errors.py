"""Every error of the HTTP API, mapped in one place.

A :class:`MetricLoopError` becomes its ``http_status`` with ``to_dict()`` as the body; a request
that does not match the schema becomes a 422 with the same shape (``error: invalid_request`` and
one issue per field); anything unexpected is logged and becomes a 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from metricloop.errors import MetricLoopError, PermissionDenied
from metricloop.secrets import redact

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


def error_response(exc: MetricLoopError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
    retry = getattr(exc, "retry_after", None)
    if isinstance(retry, int):  # throttled: say when to come back (RFC 9110 §10.2.3)
        headers["Retry-After"] = str(retry)
    body = exc.to_dict()
    body["message"] = redact(str(body["message"]))
    return JSONResponse(body, status_code=exc.http_status, headers=headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (called once by ``create_app``)."""

    @app.exception_handler(MetricLoopError)
    async def _metricloop_error(request: Request, exc: MetricLoopError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ()))
            issues.append({"message": str(err.get("msg", "invalid value")).removeprefix("Value error, "),
                           "field": field or None})
        first = issues[0] if issues else {"message": "invalid request", "field": None}
        message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        if len(issues) > 1:
            message += f" (and {len(issues) - 1} more)"
        return JSONResponse({"error": "invalid_request", "message": message, "message_zh": "请求参数无效",
                             "issues": issues}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "internal error; the server log has the details",
                             "message_zh": "服务器内部错误，详情见服务日志"}, status_code=500)
