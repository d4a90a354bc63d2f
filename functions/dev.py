"""`dev`: every function on one port, under its own prefix, as `make dev` serves them.

Each function already accepts its prefixed paths, so this only picks the
function by the first path segment. Never deployed.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common.errors import NotFound
from common.http.responses import error_response

FUNCTIONS = ("start", "chat", "admin", "health", "sandbox")
_loaded: dict[str, Callable[[Request], Awaitable[Response]]] = {}


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
    if fn is None:
        return error_response(
            NotFound(f"no function serves {request.url.path}"), request.headers.get("x-request-id", "-")
        )
    return await fn(request)
