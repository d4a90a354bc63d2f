"""`dev`: every function on one port, under its own prefix, as `make dev` serves them.

Each function already accepts its prefixed paths, so this only picks the
function by the first path segment. Never deployed.
"""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common.errors import NotFound
from common.http.responses import error_response
from common.logging import get_logger, log

# `sandbox` is never served here: it runs as its own process with an empty environment.
FUNCTIONS = ("start", "chat", "admin", "health")
_loaded: dict[str, Callable[[Request], Awaitable[Response]]] = {}
_access = get_logger("access")


def _function(name: str) -> Callable[[Request], Awaitable[Response]] | None:
    if name not in _loaded:
        try:
            module = importlib.import_module(f"functions.{name}")
        except ModuleNotFoundError:
            return None
        _loaded[name] = getattr(module, name)
    return _loaded[name]


@functions_framework.aio.http
async def dev(request: Request) -> Response:
    name = request.url.path.strip("/").split("/", 1)[0]
    fn = _function(name) if name in FUNCTIONS else None
    if fn is None:  # no function's router sees it: log the access line its router would
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = error_response(NotFound(f"no function serves {request.url.path}"), request_id)
        response.headers["X-Request-Id"] = request_id
        ms = round((time.perf_counter() - started) * 1000, 2)
        message = f"{request.method} {request.url.path} {response.status_code}"
        log(_access, logging.INFO, message, request_id=request_id, status=response.status_code, latency_ms=ms)
        return response
    return await fn(request)
