"""Responses, and the one place where errors become HTTP statuses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

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


def error_response(exc: BaseException, request_id: str) -> Response:
    """Map any exception to the SPEC §6 JSON error; 500 only for bugs, without internals."""
    if not isinstance(exc, AppError):
        _log.exception("unhandled error", exc_info=exc, extra={"fields": {"request_id": request_id}})
        exc = AppError("internal error")
    return json_response(error_body(exc, request_id), status=exc.status, headers=exc.headers)
