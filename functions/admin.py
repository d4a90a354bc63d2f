"""`admin`: the admin plane (SPEC §5, §6). Every route, its roles and its schema live in
`common.admin.api.routes`; this module only hands requests to that router."""

from __future__ import annotations

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common.admin.api.routes import build_router
from common.admin.ui import serve as ui

router = build_router()
ui.mount(router)  # the panel's static files at /admin/ui/


@functions_framework.aio.http
async def admin(request: Request) -> Response:
    return await router(request)
