"""`health`: dependency checks for Cloud Scheduler and uptime probes (SPEC §6).

The checks are plain REST calls (`common.probes`), so a cold health instance
answers without loading the Google client libraries; it imports no provider
SDK unless `?deep=1` asks for provider checks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common import probes
from common.config.ids import is_slug
from common.errors import ValidationFailed
from common.http.responses import json_response
from common.http.routing import Ctx, Router
from common.settings import get_settings

router = Router("health")
CHECK_TIMEOUT_S = 3.0


async def _firestore() -> None:
    await probes.firestore(CHECK_TIMEOUT_S)


async def _storage() -> None:
    await probes.storage(CHECK_TIMEOUT_S)


async def _secrets() -> None:
    await probes.secrets(CHECK_TIMEOUT_S)


async def _timed(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        result: dict[str, Any] = {"status": "ok"}
    except Exception as exc:
        # Name the failure without echoing upstream text that might carry secrets.
        result = {"status": "error", "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def _providers(tenant: str | None) -> dict[str, Any]:
    if not tenant:
        return {"status": "skipped", "reason": "no tenant (set TENANT_ID or ?tenant=)"}
    from common.chat.provider_check import check_providers

    return await check_providers(tenant)


async def _health(ctx: Ctx) -> Response:
    names = ("firestore", "storage", "secrets")
    results = await asyncio.gather(*(_timed(c) for c in (_firestore, _storage, _secrets)))
    checks: dict[str, Any] = dict(zip(names, results, strict=True))
    if ctx.request.query_params.get("deep") in ("1", "true"):
        tenant = get_settings().tenant_id or ctx.request.query_params.get("tenant")
        if tenant and not is_slug(tenant):
            raise ValidationFailed("tenant: must be a tenant id (slug)", field="tenant")
        checks["providers"] = await _providers(tenant)
    failing = [name for name, r in checks.items() if r.get("status") == "error"]
    body: dict[str, Any] = {
        "status": "error" if failing else "ok",
        "checks": checks,
        "version": get_settings().version,
    }
    if failing:
        body["failing"] = failing
        return json_response(body, status=503, headers={"Retry-After": "5"})
    return json_response(body)


router.add("GET", "/", _health)


@functions_framework.aio.http
async def health(request: Request) -> Response:
    return await router(request)
