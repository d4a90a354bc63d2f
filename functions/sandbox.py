"""`sandbox`: runs operator-written provider code in isolation (SPEC §2, §7). Not public.

This process holds nothing worth stealing: its environment is built from
nothing (locally by `make dev` and the test stack; on GCP a service account
with no roles), and each call runs in a fresh child process with rlimits
(`common.sandbox.runner`). It only checks who calls (`common.sandbox.auth`),
reads the call and streams the child's events back as NDJSON, unbuffered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.errors import ValidationFailed
from common.http.request import bearer_token, read_json
from common.http.responses import json_response
from common.http.routing import Ctx, Router
from common.logging import get_logger
from common.sandbox import auth
from common.sandbox.protocol import encode, error
from common.sandbox.runner import Runner

MAX_CALL_BYTES = 4 * 1024 * 1024  # code + history + tools
router = Router("sandbox")
_log = get_logger("sandbox")
_runner: Runner | None = None


def runner() -> Runner:
    global _runner
    if _runner is None:
        _runner = Runner.from_env()
    return _runner


def _check(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise ValidationFailed("body: must be a JSON object", field="body")
    if call.get("action") not in ("stream", "validate"):
        raise ValidationFailed("action: must be stream or validate", field="action")
    if not isinstance(call.get("code"), str):
        raise ValidationFailed("code: must be a string", field="code")
    if call["action"] == "stream" and not isinstance(call.get("request"), dict):
        raise ValidationFailed("request: must be an object", field="request")
    if not isinstance(call.get("config") or {}, dict):
        raise ValidationFailed("config: must be an object", field="config")
    if not isinstance(call.get("key") or "", str):
        raise ValidationFailed("key: must be a string", field="key")
    return call


async def _call(ctx: Ctx) -> Response:
    await auth.verify(bearer_token(ctx.request))
    call = _check(await read_json(ctx.request, MAX_CALL_BYTES))

    async def events() -> AsyncIterator[bytes]:
        try:
            async for event in runner().run(call):
                yield encode(event)
        except Exception:  # the status line is sent: a failure can only end the stream with an event
            _log.exception("sandbox call failed")
            yield encode(error("sandbox", "the sandbox could not run the code"))

    return StreamingResponse(
        events(), media_type="application/x-ndjson", headers={"Cache-Control": "no-cache"}
    )


async def _ready(ctx: Ctx) -> Response:
    """Liveness (no auth: it says nothing); it also starts the warm children, so the first
    call after a cold start does not pay for an interpreter."""
    runner().prewarm()
    return json_response({"status": "ok"})


router.add("POST", "/", _call)
router.add("GET", "/", _ready)


@functions_framework.aio.http
async def sandbox(request: Request) -> Response:
    return await router(request)
