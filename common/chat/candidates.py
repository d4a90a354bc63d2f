"""Which upstream calls a turn may make: the assistant's model, then its fallbacks.

A fallback on the assistant's own provider uses the assistant's credential;
a fallback on another provider uses that provider's first active credential
(by id), since an assistant names only one credential. A fallback with no
usable credential is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from common.config.effective import TenantConfig
from common.config.models import Assistant, Credential, Model, Provider
from common.errors import UpstreamError
from common.logging import get_logger, log
from common.providers import endpoint
from common.providers.base import ChatMessage, ProviderRequest, ToolSpec
from common.providers.registry import ensure_imported, preload, provider_adapter
from common.providers.resilience import Candidate
from common.secrets import get_secrets
from common.secrets.base import SecretNotFound, secret_id
from common.settings import get_settings

_log = get_logger("chat")


class ProviderRefused(UpstreamError):
    type = "provider_refused"


@dataclass(frozen=True)
class Route:
    model: Model
    provider: Provider
    credential: Credential


def _credential_for(cfg: TenantConfig, assistant: Assistant, provider: Provider) -> Credential | None:
    if assistant.credential_id:
        cred = cfg.credentials.get(assistant.credential_id)
        if cred and cred.is_active and cred.provider_id == provider.id:
            return cred
    for cred in sorted(cfg.credentials.values(), key=lambda c: c.id):
        if cred.is_active and cred.provider_id == provider.id:
            return cred
    return None


def routes(cfg: TenantConfig, assistant: Assistant) -> list[Route]:
    out: list[Route] = []
    for model_id in [assistant.model_id, *assistant.fallback_model_ids]:
        model = cfg.models.get(model_id)
        if not model or not model.is_active:
            continue
        provider = cfg.providers.get(model.provider_id)
        if not provider or not provider.is_active:
            continue
        cred = _credential_for(cfg, assistant, provider)
        if cred:
            out.append(Route(model, provider, cred))
    if not out:
        raise UpstreamError("the assistant has no active model, provider and credential configured")
    return out


def preload_sdks(cfg: TenantConfig, assistant: Assistant) -> None:
    """Start importing the SDKs this assistant's routes use (see `common.providers.registry`)."""
    with contextlib.suppress(UpstreamError):  # no route: the turn reports it in `resolve`
        preload(r.provider.kind for r in routes(cfg, assistant))


async def provider_key(tenant: str, credential: Credential) -> str:
    try:
        return await get_secrets().get(secret_id(tenant, "cred", credential.id), credential.secret_version)
    except SecretNotFound:
        raise UpstreamError(f"credential {credential.id!r} has no stored key") from None


async def guarded_key(tenant: str, provider: Provider, credential: Credential) -> str:
    """The key, only if it may go to the provider's current host (`common.providers.endpoint`)."""
    key = await provider_key(tenant, credential)
    await endpoint.guard(tenant, provider, credential, key)
    return key


async def _route_key(tenant: str, route: Route) -> str | endpoint.Refused:
    try:
        return await guarded_key(tenant, route.provider, route.credential)
    except endpoint.Refused as exc:
        return exc


async def resolve(tenant: str, cfg: TenantConfig, assistant: Assistant) -> list[tuple[Route, str]]:
    """Routes with their keys, fetched before anything is stored (misconfiguration changes nothing).

    A route whose key may not go to its provider's host (moved `base_url`, refused
    address) is skipped like a fallback without a credential; with none left the
    turn fails with a provider error and no key is sent anywhere.
    """
    found = routes(cfg, assistant)
    preload(r.provider.kind for r in found)  # overlaps the key fetches (if not started earlier)
    if len(found) == 1:  # the common case: no task and gather future per request
        keys: list[str | endpoint.Refused] = [await _route_key(tenant, found[0])]
    else:
        keys = list(await asyncio.gather(*(_route_key(tenant, r) for r in found)))
    await ensure_imported(r.provider.kind for r in found)  # `to_candidates` builds adapters
    usable: list[tuple[Route, str]] = []
    for route, key in zip(found, keys, strict=True):
        if isinstance(key, endpoint.Refused):
            log(_log, logging.WARNING, "provider route refused", tenant=tenant, reason=key.message)
            continue
        usable.append((route, key))
    if not usable:
        raise ProviderRefused(
            "the assistant's provider may not be called with its credential "
            "(its address or host changed; an admin must check base_url or enter the key again)"
        )
    return usable


def to_candidates(
    resolved: list[tuple[Route, str]],
    assistant: Assistant,
    system: str | None,
    messages: tuple[ChatMessage, ...],
    tools: tuple[ToolSpec, ...] = (),
    response_format: dict[str, Any] | None = None,
) -> list[tuple[Route, Candidate]]:
    """One candidate per route; `tools` go only to models that support tools."""
    timeout = get_settings().upstream_timeout_s
    out: list[tuple[Route, Candidate]] = []
    for route, key in resolved:
        adapter = provider_adapter(route.provider, api_key=key, timeout=timeout)
        msgs = messages
        if system and not route.model.supports_system_prompt:
            # Models without a system role get the prompt as a leading user message.
            msgs = (ChatMessage(role="user", content=system), *messages)
        req = ProviderRequest(
            model=route.model.name,
            messages=msgs,
            system=system if route.model.supports_system_prompt else None,
            tools=tools if route.model.supports_tools else (),
            temperature=assistant.temperature,
            max_output_tokens=assistant.max_output_tokens or route.model.max_output_tokens,
            response_format=response_format,
        )
        out.append(
            (
                route,
                Candidate(adapter=adapter, request=req, provider=route.provider.kind, model=route.model.name),
            )
        )
    return out
