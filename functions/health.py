"""`health`: dependency checks for Cloud Scheduler and uptime probes (SPEC §6).

The checks are plain REST calls (`common.probes`), so a cold health instance
answers without loading the Google client libraries; it imports no provider
SDK unless `?deep=1` asks for provider checks.

`?deep=1` (the conformance probe of each provider and model in use,
`common.probes.conformance`) names a tenant's providers and models and spends
its tokens, so it answers only: the deployed IAM identity (on GCP health is
`--no-allow-unauthenticated`, Cloud Run has already checked the caller's
`run.invoker` right, and deploy says so with HEALTH_BEHIND_IAM=true), a
platform admin, or that tenant's admin (an admin bearer token). Anyone else
gets 401/403, and a tenant admin asking about another tenant gets 404, as if
it did not exist.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from common import probes
from common.config.ids import is_slug
from common.errors import Forbidden, NotFound, ValidationFailed
from common.http.request import bearer_token
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
    from common.config.cache import get_config
    from common.probes import conformance

    return await conformance.check(tenant, await get_config(tenant))


def behind_iam() -> bool:
    """Deploy sets HEALTH_BEHIND_IAM=true only with `--no-allow-unauthenticated` (infra/deploy.py)."""
    return os.environ.get("HEALTH_BEHIND_IAM", "").strip().lower() == "true"


async def _authorize_deep(ctx: Ctx, tenant: str | None) -> None:
    if behind_iam():
        return
    from common.auth.users import principal

    caller = await principal(bearer_token(ctx.request))  # 401 without a valid admin token
    if caller.is_platform:
        return
    if caller.role != "tenant_admin":
        raise Forbidden("deep health needs a platform admin or the tenant's admin")
    if tenant != caller.tenant_id:
        raise NotFound("tenant not found")


async def _health(ctx: Ctx) -> Response:
    deep = ctx.request.query_params.get("deep") in ("1", "true")
    tenant = get_settings().tenant_id or ctx.request.query_params.get("tenant")
    if deep:  # refuse before doing any work
        if tenant and not is_slug(tenant):
            raise ValidationFailed("tenant: must be a tenant id (slug)", field="tenant")
        await _authorize_deep(ctx, tenant)
    names = ("firestore", "storage", "secrets")
    results = await asyncio.gather(*(_timed(c) for c in (_firestore, _storage, _secrets)))
    checks: dict[str, Any] = dict(zip(names, results, strict=True))
    if deep:
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
