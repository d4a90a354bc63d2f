"""Routing inside one function.

A deployed function owns its URL (`POST {chat URL}/v1/chat/completions`),
while `make dev` and load balancers keep the prefix (`POST /chat/v1/...`):
the router accepts both by stripping the function's own prefix first.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from common.errors import MethodNotAllowed, NotFound
from common.http.responses import ErrorStyle, error_response
from common.logging import get_logger, log
from common.settings import get_settings

Handler = Callable[["Ctx"], Awaitable[Response]]
_EXPOSE = "X-Request-Id, Retry-After, Idempotent-Replayed, X-Should-Retry"
_ALLOW_HEADERS = "Authorization, Content-Type, Accept, Idempotency-Key, X-Request-Id, X-Tenant-Id"
# A requested header is echoed back only when it is a plain header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def allowed_request_headers(requested: str | None) -> str:
    """Our own headers plus whatever the preflight asks for (the OpenAI JS SDK sends
    `x-stainless-*` and more, and the list grows): auth is a bearer header, never a
    cookie, so any header name is safe to allow for an allowed origin."""
    names = [n.strip() for n in (requested or "").split(",")[:64]]
    extra = [n for n in names if n and _HEADER_NAME.match(n)]
    return ", ".join([_ALLOW_HEADERS, *extra]) if extra else _ALLOW_HEADERS


def error_style(local_path: str) -> ErrorStyle:
    """The OpenAI-compatible routes answer errors in OpenAI's shape."""
    return "openai" if local_path == "/v1" or local_path.startswith("/v1/") else "native"


def cors_headers(origin: str) -> dict[str, str]:
    """Browsers may call start/chat/admin: auth is a bearer header, never a cookie,
    so any allowed origin is safe to echo; `CORS_ALLOW_ORIGINS` narrows the list."""
    allowed = get_settings().cors_allow_origins
    if "*" not in allowed and origin not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": _EXPOSE}


_log = get_logger("access")
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Ctx:
    """What a handler needs: the request, path params, and a request id for errors and logs."""

    request: Request
    params: dict[str, str]
    request_id: str
    path: str
    log_fields: dict[str, Any] = field(default_factory=dict)
    error_style: ErrorStyle = "native"


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


async def _access_log(message: str, fields: dict[str, Any], after: BackgroundTask | None) -> None:
    if after is not None:
        await after()
    log(_log, 20, message, **fields)


class Router:
    def __init__(self, prefix: str) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler) -> None:
        regex = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", path.rstrip("/") or "") + "/?$"
        self.routes.append(Route(method.upper(), re.compile(regex), handler))

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.add(method, path, fn)
            return fn

        return deco

    def local_path(self, path: str) -> str:
        if path == self.prefix or path.startswith(self.prefix + "/"):
            path = path[len(self.prefix) :]
        return path or "/"

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        local = self.local_path(path)
        allowed: list[str] = []
        for route in self.routes:
            m = route.pattern.match(local)
            if m is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route.handler, m.groupdict()
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(f"{method} is not allowed here", allow=sorted(set(allowed)))
        raise NotFound(f"no route for {method} {path}")

    def _preflight(self, origin: str, path: str, requested: str | None) -> Response:
        local = self.local_path(path)
        methods = sorted({r.method for r in self.routes if r.pattern.match(local)})
        if not methods or not cors_headers(origin):
            return Response(status_code=404)
        headers = {
            **cors_headers(origin),
            "Access-Control-Allow-Methods": ", ".join([*methods, "OPTIONS"]),
            "Access-Control-Allow-Headers": allowed_request_headers(requested),
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        method, path = request.method, request.url.path
        ctx = Ctx(request=request, params={}, request_id=request_id, path=path)
        ctx.error_style = error_style(self.local_path(path))
        origin = request.headers.get("origin")
        if method == "OPTIONS" and origin and request.headers.get("access-control-request-method"):
            return self._preflight(origin, path, request.headers.get("access-control-request-headers"))
        try:
            handler, ctx.params = self.match(method, path)
            response = await handler(ctx)
        except Exception as exc:
            response = error_response(exc, request_id, ctx.error_style)
        response.headers["X-Request-Id"] = request_id
        if origin:
            response.headers.update(cors_headers(origin))
        # Written after the response is sent (a background task), off the caller's path;
        # `latency_ms` is the handler's time to produce the response (for SSE: to the
        # start of the stream).
        fields = {
            "request_id": request_id,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            **ctx.log_fields,
        }
        after = response.background
        response.background = BackgroundTask(
            _access_log, f"{method} {path} {response.status_code}", fields, after
        )
        return response
