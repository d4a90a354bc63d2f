"""The tool loop: call the model, run the tools it asks for, send the results back, repeat.

Storage- and transport-agnostic: it yields typed events and the caller
(`common.chat.turn`) streams and persists them. Each model call goes through
`resilient_stream` with every candidate (the assistant's model, then its
fallbacks), so retries and fallbacks apply per call, and never after the
call's first event reached the caller.

Per round the model's tool calls run concurrently; `ResultReady` events come
as each call finishes, while the results go back to the model in the order
of the calls. After `max_rounds` rounds the model is called once more with
no tools and a note asking it to answer with what it has; if it still only
wants tools, the turn fails with `ToolLoopLimit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from common.config.models import Assistant
from common.errors import AppError, UpstreamError, UpstreamTimeout
from common.logging import get_logger, log
from common.providers import endpoint
from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    UsageEvent,
)
from common.providers.resilience import Candidate, resilient_stream
from common.settings import get_settings
from common.tools.base import ToolContext, ToolOutcome
from common.tools.toolset import Toolset

_log = get_logger("chat")
LIMIT_NOTE = (
    "You have used all {n} rounds of tool calls allowed for this reply. Do not call tools again: "
    "answer the user now with the information you already have, and say what you could not finish."
)


def upstream_error(exc: ProviderCallError) -> AppError:
    """What the caller sees when the provider failed after retries and fallbacks: a status
    and a short class, never the upstream's body (logged, redacted, for operators)."""
    log(_log, logging.WARNING, "upstream failed", detail=exc.message[:300])
    if exc.timeout:
        # A code provider says which sandbox limit ended it (our words, never the code's).
        return UpstreamTimeout(f"the model provider timed out{_sandbox_detail(exc)}")
    return UpstreamError(
        f"the model provider failed ({getattr(exc, 'public', None) or endpoint.public_error(exc)})"
    )


def _sandbox_detail(exc: ProviderCallError) -> str:
    public = getattr(exc, "public", None)
    return f" ({public})" if public else ""


class ToolLoopLimit(AppError):
    status, type = 502, "tool_loop_limit"


@dataclass(frozen=True)
class Delta:
    index: int  # which candidate is answering
    text: str
    logprobs: tuple[dict[str, Any], ...] = ()  # when the request asked for them (OpenAI)


@dataclass(frozen=True)
class CallRequested:
    index: int
    call: ToolCall


@dataclass(frozen=True)
class ResultReady:
    outcome: ToolOutcome


@dataclass(frozen=True)
class Step:
    """One model response. `final` ends the turn; otherwise `outcomes` answer `calls`, in order."""

    index: int
    text: str
    calls: tuple[ToolCall, ...]
    outcomes: tuple[ToolOutcome, ...]
    input_tokens: int
    output_tokens: int
    final: bool
    # Why the model stopped (FinishEvent reasons); a final step with `calls` ends on
    # client tools (OpenAI-compatible endpoint) that the caller runs itself.
    finish_reason: str = "stop"


LoopEvent = Delta | CallRequested | ResultReady | Step


class Meter(Protocol):
    """Budget accounting around each model call (`common.chat.budget.TurnBudget`)."""

    async def reserve(self, batch: Sequence[Candidate]) -> Any: ...

    def settle(self, held: Any, index: int, input_tokens: int, output_tokens: int) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_rounds: int
    attempts: int
    base_delay: float
    max_delay: float


def limits_for(assistant: Assistant) -> Limits:
    """The assistant's round cap (else the setting) and the upstream retry policy."""
    settings = get_settings()
    rounds = assistant.max_tool_rounds
    return Limits(
        max_rounds=settings.max_tool_rounds if rounds is None else rounds,
        attempts=settings.upstream_attempts,
        base_delay=settings.retry_base_delay_s,
        max_delay=settings.retry_max_delay_s,
    )


def _request(
    base: ProviderRequest,
    extra: list[ChatMessage],
    offer: bool,
    note: str | None,
    client_tools: frozenset[str] = frozenset(),
) -> ProviderRequest:
    messages = base.messages + tuple(extra)
    system = base.system
    if note:
        if system is not None:
            system = f"{system}\n\n{note}"
        else:  # no system prompt to extend (or the model has none): a trailing user message
            messages += (ChatMessage(role="user", content=note),)
    tools = base.tools if offer else tuple(t for t in base.tools if t.name in client_tools)
    choice, function = base.tool_choice, base.tool_choice_function
    if extra and (choice == "required" or function):
        # A forced call applies to the first round only, or server tools would loop forever.
        choice, function = "auto", None
    if not tools:
        choice, function = None, None
    return replace(
        base, messages=messages, tools=tools, system=system, tool_choice=choice, tool_choice_function=function
    )


async def run(
    candidates: Sequence[Candidate],
    toolset: Toolset,
    ctx: ToolContext,
    limits: Limits,
    client_tools: frozenset[str] = frozenset(),
    meter: Meter | None = None,
) -> AsyncGenerator[LoopEvent, None]:
    """`client_tools` name tools the caller runs (OpenAI-compatible endpoint): a round in
    which the model calls any of them ends the loop with those calls (server-tool calls of
    that round are not run; the stateless caller's next request lets the model ask again).
    `meter` reserves each call's worst case before it and settles the real usage after."""
    extra: list[ChatMessage] = []
    rounds = 0
    while True:
        offer = bool(toolset) and rounds < limits.max_rounds
        capped = bool(toolset) and 0 < limits.max_rounds <= rounds
        note = LIMIT_NOTE.format(n=limits.max_rounds) if capped else None
        batch = [
            replace(c, request=_request(c.request, extra, offer, note, client_tools)) for c in candidates
        ]
        index, parts, calls, usage, finished, reason = 0, [], [], (0, 0), False, "stop"
        held = await meter.reserve(batch) if meter is not None else None
        stream = cast(
            AsyncGenerator[tuple[int, ProviderEvent], None],
            resilient_stream(
                batch, attempts=limits.attempts, base_delay=limits.base_delay, max_delay=limits.max_delay
            ),
        )
        try:
            async with contextlib.aclosing(stream):
                async for index, event in stream:
                    if isinstance(event, TextDelta):
                        if event.text:
                            parts.append(event.text)
                            yield Delta(index, event.text, event.logprobs)
                    elif isinstance(event, ToolCallEvent):
                        calls.append(event.call)
                        if offer or event.call.name in client_tools:
                            yield CallRequested(index, event.call)
                    elif isinstance(event, UsageEvent):
                        usage = (event.input_tokens, event.output_tokens)
                    elif isinstance(event, FinishEvent):
                        finished, reason = True, event.reason
        finally:
            if meter is not None and held is not None:
                meter.settle(held, index, *usage)
        if not finished:
            raise ProviderCallError("the upstream stream ended without finishing", connection=True)
        text = "".join(parts)
        for_client = tuple(c for c in calls if c.name in client_tools)
        if for_client:
            yield Step(index, text, for_client, (), *usage, final=True, finish_reason="tool_calls")
            return
        if not calls or not offer:
            if calls and capped and not text:
                raise ToolLoopLimit(f"the model still wanted to call tools after {limits.max_rounds} rounds")
            # Calls nobody offered (no tools, or after the cap) are dropped, never stored unanswered.
            final_reason = "stop" if reason == "tool_calls" else reason
            yield Step(index, text, (), (), *usage, final=True, finish_reason=final_reason)
            return
        outcomes: list[ToolOutcome] = []
        async with contextlib.aclosing(_run_tools(toolset, tuple(calls), ctx, outcomes)) as results:
            async for item in results:
                yield item
        rounds += 1
        yield Step(index, text, tuple(calls), tuple(outcomes), *usage, final=False)
        extra.append(ChatMessage(role="assistant", content=text, tool_calls=tuple(calls)))
        extra.extend(
            ChatMessage(role="tool", content=o.result, tool_call_id=o.call.id, name=o.call.name)
            for o in outcomes
        )


async def _run_tools(
    toolset: Toolset, calls: tuple[ToolCall, ...], ctx: ToolContext, outcomes: list[ToolOutcome]
) -> AsyncGenerator[ResultReady, None]:
    """Yield each result as it lands; fill `outcomes` in call order; cancel leftovers on exit."""
    tasks = toolset.start(calls, ctx)
    try:
        for next_done in asyncio.as_completed(tasks):
            yield ResultReady(await next_done)
        outcomes.extend(t.result() for t in tasks)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
