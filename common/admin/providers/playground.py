"""Talk to a provider directly: the provider test and the playground. Nothing is stored.

Both use the tenant's own provider, model and credential (inactive ones too:
trying a record before switching it on is the point) and call the adapter
once, without chat's retries and fallbacks, so what the operator sees is what
that one upstream did. Code providers are platform admins' business (403 for
others) and run in the sandbox function, through the same adapter as chat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from common.admin.api.context import Call
from common.admin.api.schemas import PlaygroundRequest, ProviderTestRequest
from common.admin.records import snapshot
from common.admin.records.writes import check_storable
from common.chat.candidates import guarded_key
from common.config.models import Credential, Model, Provider
from common.errors import AppError, Forbidden, NotFound, UpstreamError, UpstreamTimeout, ValidationFailed
from common.http.responses import json_response
from common.http.sse import SSE_HEADERS, sse
from common.logging import get_logger, log
from common.providers import endpoint
from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    ProviderRequest,
    TextDelta,
    UsageEvent,
    complete,
)
from common.providers.registry import provider_adapter
from common.settings import get_settings

_log = get_logger("admin")


def _pick(
    snap: snapshot.Snapshot, provider_id: str, model_id: str | None, credential_id: str
) -> tuple[Provider, Model, Credential]:
    cfg = snap.cfg
    provider = cfg.providers.get(provider_id)
    if provider is None:
        raise ValidationFailed(f"provider_id: no provider {provider_id!r}", field="provider_id")
    if model_id is None:
        models = sorted((m for m in cfg.models.values() if m.provider_id == provider.id), key=lambda m: m.id)
        if not models:
            raise ValidationFailed("model_id: the provider has no model", field="model_id")
        model = models[0]
    else:
        found = cfg.models.get(model_id)
        if found is None or found.provider_id != provider.id:
            raise ValidationFailed(f"model_id: no model {model_id!r} of this provider", field="model_id")
        model = found
    credential = cfg.credentials.get(credential_id)
    if credential is None or credential.provider_id != provider.id:
        raise ValidationFailed(
            f"credential_id: no credential {credential_id!r} of this provider", field="credential_id"
        )
    return provider, model, credential


async def test_provider(call: Call) -> Response:
    from common.chat.provider_check import probe

    snap = await snapshot.load(call.tenant_id)
    if call.params["id"] not in snap.cfg.providers:
        raise NotFound("provider not found")
    if snap.cfg.providers[call.params["id"]].kind == "code" and not call.actor.is_platform:
        raise Forbidden("only a platform admin may test code providers")
    body = await call.body(ProviderTestRequest)
    provider, model, credential = _pick(snap, call.params["id"], body.model_id, body.credential_id)
    await _guarded_key(call.tenant_id, provider, credential)  # 422 before anything is sent
    if provider.kind == "code":
        from common.admin.providers.code_providers import test_code

        return await test_code(call, provider, model, credential, body)
    result = await probe(call.tenant_id, provider, model, credential)
    return json_response(
        {
            "status": result["status"],
            "latency_ms": result["latency_ms"],
            "error": result.get("error"),
            "upstream_status": result.get("upstream_status"),
        }
    )


def _request(body: PlaygroundRequest, model: Model) -> ProviderRequest:
    if body.messages is not None and body.message is not None:
        raise ValidationFailed("message: send either `message` or `messages`, not both", field="message")
    if body.messages is None and body.message is None:
        raise ValidationFailed("messages: send `message` or `messages`", field="messages")
    if body.messages is not None:
        messages = tuple(ChatMessage(role=m.role, content=m.content) for m in body.messages)
    else:
        messages = (ChatMessage(role="user", content=body.message or ""),)
    system = body.system_prompt or None
    if system and not model.supports_system_prompt:
        messages, system = (ChatMessage(role="user", content=system), *messages), None
    return ProviderRequest(
        model=model.name,
        messages=messages,
        system=system,
        temperature=body.temperature,
        max_output_tokens=body.max_output_tokens or model.max_output_tokens,
    )


async def _guarded_key(tenant: str, provider: Provider, credential: Credential) -> str:
    """The key, or 422 naming `credential_id` (bound to another host) or `base_url` (refused)."""
    try:
        return await guarded_key(tenant, provider, credential)
    except endpoint.Refused as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None


def _upstream_error(exc: ProviderCallError) -> AppError:
    """Status and class only (the body may be an internal service's answer); logs keep a snippet."""
    log(_log, logging.WARNING, "playground upstream failed", detail=exc.message[:300])
    if exc.timeout:
        return UpstreamTimeout("the model provider timed out")
    return UpstreamError(f"the model provider failed ({endpoint.public_error(exc)})")


async def playground(call: Call) -> Response:
    body = await call.body(PlaygroundRequest)
    check_storable(body.model_dump())  # text the upstream can take: valid UTF-8, finite numbers
    snap = await snapshot.load(call.tenant_id)
    provider, model, credential = _pick(snap, body.provider_id, body.model_id, body.credential_id)
    if provider.kind == "code" and not call.actor.is_platform:
        raise Forbidden("only a platform admin may call code providers directly")
    request = _request(body, model)
    key = await _guarded_key(call.tenant_id, provider, credential)
    adapter = provider_adapter(provider, api_key=key, timeout=get_settings().upstream_timeout_s)
    meta = {"model": model.name, "provider": provider.kind}
    started = time.perf_counter()
    if not body.stream:
        try:
            result = await complete(adapter, request)
        except ProviderCallError as exc:
            raise _upstream_error(exc) from None
        return json_response(
            {
                "text": result.text,
                "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens},
                **meta,
                "finish_reason": result.finish_reason,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        )

    async def events() -> AsyncIterator[bytes]:
        finish: dict[str, Any] = {"finish_reason": "other"}
        try:
            async for event in adapter.stream(request):
                if isinstance(event, TextDelta) and event.text:
                    yield sse("delta", {"text": event.text})
                elif isinstance(event, UsageEvent):
                    yield sse(
                        "usage", {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
                    )
                elif isinstance(event, FinishEvent):
                    finish = {"finish_reason": event.reason}
        except ProviderCallError as exc:
            err = _upstream_error(exc)
            yield sse("error", {"type": err.type, "message": err.message})
            return
        except Exception:  # headers are sent: a bug can only end the stream with an error event
            _log.exception("playground stream failed")
            yield sse("error", {"type": "internal_error", "message": "internal error"})
            return
        latency = round((time.perf_counter() - started) * 1000, 2)
        yield sse("done", {**meta, **finish, "latency_ms": latency})

    return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)
