"""`/health?deep=1`: does each provider and model in use still speak our protocol?

A 1-token call proves a key works, not that a turn will: streaming, usage
accounting, finish reasons and tool calls break separately (a model renamed,
an API version retired, a proxy that buffers). So per active provider and
each model an active assistant uses (its own or a fallback), one streamed
call must yield at least two text deltas, a usage record and a finish reason;
where an assistant on that model has tools, a second call must return one
forced tool call. The result names the first step that failed, never the
upstream's text (it may quote keys or prompts).

Cost is capped: at most one probe per tenant, provider and model every
`PROBE_INTERVAL_S` per instance; callers in between get the cached result
(and concurrent callers share the one in flight).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from common.config.effective import TenantConfig
from common.config.models import Credential, Model, Provider
from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    ProviderRequest,
    TextDelta,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)

PROBE_INTERVAL_S = 300.0
PROBE_TIMEOUT_S = 20.0
PROBE_TOOL = ToolSpec(
    name="report_status",
    description="Report that the service is up.",
    parameters={"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]},
)
COUNT_PROMPT = "Count from 1 to 10 in words, separated by spaces."
TOOL_PROMPT = 'Call the report_status tool with status "ok".'
_cache: dict[tuple[str, str, str], tuple[float, asyncio.Task[dict[str, Any]]]] = {}


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: Model
    credential: Credential
    with_tools: bool


def targets(cfg: TenantConfig) -> list[Target]:
    """Each (provider, model) an active assistant can route to, with the credential it would use."""
    from common.chat.candidates import routes
    from common.errors import UpstreamError

    found: dict[tuple[str, str], Target] = {}
    for assistant in sorted(cfg.assistants.values(), key=lambda a: a.id):
        if not assistant.is_active:
            continue
        try:
            usable = routes(cfg, assistant)
        except UpstreamError:
            continue  # misconfigured assistants fail their own turns, not the probe
        tools = bool(assistant.tools)
        for route in usable:
            key = (route.provider.id, route.model.id)
            prev = found.get(key)
            with_tools = (tools and route.model.supports_tools) or (prev is not None and prev.with_tools)
            credential = prev.credential if prev else route.credential
            found[key] = Target(route.provider, route.model, credential, with_tools)
    return [found[k] for k in sorted(found)]


def _request(model: str, prompt: str, tools: tuple[ToolSpec, ...] = ()) -> ProviderRequest:
    extra: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(ProviderRequest)}
    if tools and "tool_choice" in names:
        extra["tool_choice"] = "required"
    if tools and "tool_choice_function" in names:
        extra["tool_choice_function"] = tools[0].name
    messages = (ChatMessage(role="user", content=prompt),)
    return ProviderRequest(model=model, messages=messages, tools=tools, max_output_tokens=64, **extra)


class _StepFailed(Exception):
    def __init__(self, step: str, upstream_status: int | None = None) -> None:
        super().__init__(step)
        self.step = step
        self.upstream_status = upstream_status


async def _stream(adapter: Any, request: ProviderRequest, step: str) -> list[Any]:
    try:
        return [event async for event in adapter.stream(request)]
    except ProviderCallError as exc:
        raise _StepFailed(step, exc.status) from None
    except Exception:
        raise _StepFailed(step) from None


async def _run(tenant: str, target: Target) -> None:
    from common.chat.candidates import guarded_key
    from common.providers.registry import get_adapter
    from common.settings import get_settings

    try:  # the key only if it may go to the provider's current host (common.providers.endpoint)
        key = await guarded_key(tenant, target.provider, target.credential)
    except Exception:
        raise _StepFailed("credential") from None
    try:
        adapter = get_adapter(  # shared and cached: never closed here
            target.provider.kind,
            api_key=key,
            base_url=target.provider.base_url,
            timeout=get_settings().upstream_timeout_s,
        )
    except Exception:  # an unknown kind, a refused base_url
        raise _StepFailed("adapter") from None
    events = await _stream(adapter, _request(target.model.name, COUNT_PROMPT), "stream")
    if sum(1 for e in events if isinstance(e, TextDelta) and e.text) < 2:
        raise _StepFailed("deltas")
    if not any(isinstance(e, UsageEvent) for e in events):
        raise _StepFailed("usage")
    if not any(isinstance(e, FinishEvent) for e in events):
        raise _StepFailed("finish")
    if target.with_tools:
        request = _request(target.model.name, TOOL_PROMPT, (PROBE_TOOL,))
        events = await _stream(adapter, request, "tool_call")
        calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
        if not any(c.name == PROBE_TOOL.name for c in calls):
            raise _StepFailed("tool_call")


async def _probe(tenant: str, target: Target) -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"ok": True, "failed_step": None}
    try:
        await asyncio.wait_for(_run(tenant, target), PROBE_TIMEOUT_S)
    except _StepFailed as exc:
        result = {"ok": False, "failed_step": exc.step}
        if exc.upstream_status:
            result["upstream_status"] = exc.upstream_status
    except TimeoutError:
        result = {"ok": False, "failed_step": "timeout"}
    except Exception:  # never a 500 from health: the probe failed, say where we were
        result = {"ok": False, "failed_step": "error"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    result["checked_at"] = time.time()
    return result


def _cached(tenant: str, target: Target) -> tuple[asyncio.Task[dict[str, Any]], bool]:
    key = (tenant, target.provider.id, target.model.id)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and now - hit[0] < PROBE_INTERVAL_S and not (hit[1].done() and hit[1].cancelled()):
        return hit[1], True
    task = asyncio.ensure_future(_probe(tenant, target))
    _cache[key] = (now, task)
    return task, False


async def check(tenant: str, cfg: TenantConfig) -> dict[str, Any]:
    """`{status, probes: [{provider, model, ok, latency_ms, failed_step, cached}]}`."""
    found = targets(cfg)
    tasks = [_cached(tenant, t) for t in found]
    results = await asyncio.gather(*(asyncio.shield(task) for task, _ in tasks))
    probes = [
        {"provider": t.provider.id, "model": t.model.id, **r, "tools": t.with_tools, "cached": cached}
        for t, r, (_, cached) in zip(found, results, tasks, strict=True)
    ]
    return {"status": "ok" if all(p["ok"] for p in probes) else "error", "probes": probes}


def clear_cache() -> None:
    """Tests: probe again on the next call."""
    _cache.clear()
