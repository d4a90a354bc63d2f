"""The tools one assistant offers in one turn, and running a model's call against them.

An assistant lists tool names. A name resolves to an active webhook tool of
the tenant's effective config (by name, then id), else to a Python tool from
the tenant's own `tools.py`; runtime config wins so an admin can replace a
code tool without a deploy. Unknown names are logged and left out rather than
failing the turn.

Timeouts, most specific first: the tool's own (`@tool(timeout_s=...)`, a
webhook's `timeout_s`), the assistant's `tool_timeout_s`, then the global
`TOOL_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Protocol

from common.config.effective import TenantConfig
from common.config.models import Assistant
from common.logging import get_logger, log
from common.providers.base import ToolCall, ToolSpec
from common.tools.base import ToolContext, ToolOutcome, error

_log = get_logger("tools")
# A model may ask for many calls at once; beyond this they are answered with an error.
MAX_PARALLEL_CALLS = 16


class Runnable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ToolSpec: ...

    @property
    def timeout_s(self) -> float | None: ...

    def __call__(self, call: ToolCall, ctx: ToolContext) -> Awaitable[ToolOutcome]: ...


@dataclass
class Toolset:
    tools: dict[str, Runnable] = field(default_factory=dict)
    timeout_s: float = 10.0

    def __bool__(self) -> bool:
        return bool(self.tools)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(t.spec for t in self.tools.values())

    def timeout_for(self, name: str) -> float:
        found = self.tools.get(name)
        return (found.timeout_s if found is not None else None) or self.timeout_s

    async def run(self, call: ToolCall, ctx: ToolContext) -> ToolOutcome:
        """Never raises (but for cancellation): every failure is an error outcome for the model."""
        found = self.tools.get(call.name)
        if found is None:
            offered = ", ".join(sorted(self.tools)) or "none"
            return error(call, f"there is no tool named {call.name!r} (available: {offered}).")
        timeout = self.timeout_for(call.name)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout) as scope:
                outcome = await found(call, replace(ctx, call_id=call.id))
        except TimeoutError:
            if not scope.expired():
                raise
            outcome = error(call, f"{call.name} did not finish within {timeout:g} s.")
        except Exception as exc:  # a bug in our own wrappers, never the tool's (those are caught inside)
            _log.exception("tool wrapper failed", extra={"fields": {"tenant": ctx.tenant, "tool": call.name}})
            outcome = error(call, f"{call.name} failed: {type(exc).__name__}")
        log(
            _log,
            logging.INFO,
            "tool call",
            request_id=ctx.request_id,
            tenant=ctx.tenant,
            tool=call.name,
            is_error=outcome.is_error,
            tool_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return outcome

    def start(self, calls: tuple[ToolCall, ...], ctx: ToolContext) -> list[asyncio.Task[ToolOutcome]]:
        """One task per call, all running concurrently; results keep the order of `calls`."""
        tasks = []
        for i, call in enumerate(calls):
            if i < MAX_PARALLEL_CALLS:
                tasks.append(asyncio.ensure_future(self.run(call, ctx)))
            else:
                tasks.append(asyncio.ensure_future(_done(error(call, "too many tool calls in one turn."))))
        return tasks


async def _done(outcome: ToolOutcome) -> ToolOutcome:
    return outcome


def toolset_for(
    tenant: str,
    cfg: TenantConfig,
    assistant: Assistant,
    *,
    default_timeout_s: float,
) -> Toolset:
    toolset = Toolset(timeout_s=assistant.tool_timeout_s or default_timeout_s)
    if not assistant.tools:
        return toolset
    from common.tools.python import PythonTool, tenant_tools

    webhooks = {t.name: t for t in sorted(cfg.tools.values(), key=lambda t: t.id) if t.is_active}
    webhooks.update({t.id: t for t in cfg.tools.values() if t.is_active and t.id not in webhooks})
    code: dict[str, PythonTool] | None = None
    for name in dict.fromkeys(assistant.tools):  # de-duplicated, in order
        record = webhooks.get(name)
        if record is not None:
            from common.tools.webhook import WebhookTool

            toolset.tools[record.name] = WebhookTool(tenant, cfg, record)
            continue
        if code is None:
            code = tenant_tools(tenant)
        if name in code:
            toolset.tools[name] = code[name]
        else:
            log(_log, logging.WARNING, "assistant names an unknown tool", tenant=tenant, tool=name)
    return toolset
