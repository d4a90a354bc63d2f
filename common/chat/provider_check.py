"""One small real call per provider: used by `/health?deep=1` and the admin provider test."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from common.config.cache import get_config
from common.config.models import Credential, Model, Provider
from common.logging import get_logger, log
from common.providers import endpoint
from common.providers.base import ChatMessage, ProviderCallError, ProviderRequest, complete
from common.providers.registry import get_adapter
from common.settings import get_settings

PROBE_TIMEOUT_S = 10.0
_log = get_logger("chat")


async def probe(tenant: str, provider: Provider, model: Model, credential: Credential) -> dict[str, Any]:
    from common.chat.candidates import guarded_key

    started = time.perf_counter()
    try:
        key = await guarded_key(tenant, provider, credential)
        adapter = get_adapter(
            provider.kind, api_key=key, base_url=provider.base_url, timeout=get_settings().upstream_timeout_s
        )
        request = ProviderRequest(
            model=model.name, messages=(ChatMessage(role="user", content="ping"),), max_output_tokens=1
        )
        await asyncio.wait_for(complete(adapter, request), PROBE_TIMEOUT_S)
        result: dict[str, Any] = {"status": "ok"}
    except ProviderCallError as exc:
        # Status and class only: the body could be an internal service's answer (SSRF).
        log(
            _log,
            logging.WARNING,
            "provider probe failed",
            tenant=tenant,
            provider=provider.id,
            detail=exc.message[:300],
        )
        result = {"status": "error", "error": endpoint.public_error(exc), "upstream_status": exc.status}
    except endpoint.Refused as exc:
        result = {"status": "error", "error": f"refused: check {exc.field}"}
    except TimeoutError:
        result = {"status": "error", "error": "timeout"}
    except Exception as exc:
        result = {"status": "error", "error": getattr(exc, "message", type(exc).__name__)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def check_providers(tenant: str) -> dict[str, Any]:
    cfg = await get_config(tenant)
    jobs: dict[str, Any] = {}
    for provider in cfg.providers.values():
        if not provider.is_active or provider.kind == "code":
            continue
        model = next((m for m in cfg.models.values() if m.provider_id == provider.id and m.is_active), None)
        cred = next(
            (
                c
                for c in sorted(cfg.credentials.values(), key=lambda c: c.id)
                if c.provider_id == provider.id and c.is_active
            ),
            None,
        )
        if model and cred:
            jobs[provider.id] = probe(tenant, provider, model, cred)
    results = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
    failing = any(r["status"] == "error" for r in results.values())
    return {"status": "error" if failing else "ok", "providers": results}
