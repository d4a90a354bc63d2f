"""`start`: create a conversation thread for the key's app (SPEC §6)."""

from __future__ import annotations

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common.chat import limits
from common.chat.access import assistant_of, caller
from common.chat.schemas import StartRequest
from common.http.request import parse
from common.http.responses import json_response
from common.http.routing import Ctx, Router
from common.settings import get_settings
from common.store import threads

router = Router("start")


async def _start(ctx: Ctx) -> Response:
    c = await caller(ctx.request)
    await limits.check_rate(c)  # threads cost storage: the key's rate limit applies here as in chat
    body = StartRequest()
    if ctx.request.method == "POST":
        body = await parse(ctx.request, StartRequest, get_settings().max_body_bytes, allow_empty=True)
    assistant = assistant_of(c, body.assistant or ctx.request.query_params.get("assistant"))
    thread = await threads.create_thread(c.tenant, c.app.id, assistant.id, body.metadata)
    ctx.log_fields.update(tenant=c.tenant, app=c.app.id)
    return json_response({"thread_id": thread.id, "assistant": assistant.slug}, status=201)


router.add("GET", "/", _start)
router.add("POST", "/", _start)


@functions_framework.aio.http
async def start(request: Request) -> Response:
    return await router(request)
