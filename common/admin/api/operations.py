"""One row of the admin API table (`Op`): what the router registers and the OpenAPI documents.

It lives apart from `common.admin.api.routes` (which holds the rows and the
handlers) so that `common.admin.api.openapi` can read rows without importing the
routes: routes serve the document, so the dependency runs routes -> openapi,
never back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from common.admin.api.context import Call, Scope
from common.auth.roles import Access

AdminHandler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # under /admin
    handler: AdminHandler
    access: Access
    summary: str
    scope: Scope = Scope.TENANT
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    query: tuple[str, ...] = ()
    media: str = "application/json"  # of the 2xx body; YAML for export
    request_media: tuple[str, ...] = ("application/json",)
    streams: bool = False  # 200 may be text/event-stream instead of JSON
    extra_errors: tuple[int, ...] = ()

    @property
    def tag(self) -> str:
        return self.path.split("/")[1].split(".")[0]


def op(route: str, handler: AdminHandler, access: Access, summary: str, **kw: Any) -> Op:
    """One row: `op("GET /apps/{id}", handler, R, "Get an app", response=App)`."""
    method, path = route.split(" ", 1)
    return Op(method, path, handler, access, summary, **kw)
