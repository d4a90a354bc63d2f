"""Responses, and the one place where errors become HTTP statuses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from starlette.responses import Response

from common.errors import AppError
from common.logging import get_logger

_log = get_logger("http")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()  # RFC 3339, as clients parse it
    return str(value)


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, headers=headers, media_type="application/json")


def error_body(exc: AppError, request_id: str) -> dict[str, Any]:
    err: dict[str, Any] = {"type": exc.type, "message": exc.message, "request_id": request_id}
    if exc.field:
        err["field"] = exc.field
    return {"error": err}


ErrorStyle = Literal["native", "openai"]

# OpenAI's `type` per status, and the statuses its clients expect instead of ours.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
_OPENAI_STATUS = {422: 400}  # validation is 400 on OpenAI (clients raise BadRequestError)


def openai_error_body(exc: AppError, status: int, request_id: str) -> dict[str, Any]:
    """OpenAI's `{"error": {"message", "type", "param", "code"}}`, plus our request id."""
    return {
        "error": {
            "message": exc.message,
            "type": _OPENAI_TYPES.get(status, "server_error"),
            "param": exc.field,
            "code": exc.code or _OPENAI_CODES.get(status) or exc.type,
            "request_id": request_id,
        }
    }


def error_response(exc: BaseException, request_id: str, style: ErrorStyle = "native") -> Response:
    """Map any exception to its JSON error; 500 only for bugs, without internals.

    The status comes from the exception (one map); `style` only renders it: SPEC §6's
    shape, or OpenAI's for the `/v1` routes, where validation is 400 as OpenAI answers.
    """
    if not isinstance(exc, AppError):
        _log.exception("unhandled error", exc_info=exc, extra={"fields": {"request_id": request_id}})
        exc = AppError("internal error")
    if style == "openai":
        status = _OPENAI_STATUS.get(exc.status, exc.status)
        return json_response(openai_error_body(exc, status, request_id), status=status, headers=exc.headers)
    return json_response(error_body(exc, request_id), status=exc.status, headers=exc.headers)
