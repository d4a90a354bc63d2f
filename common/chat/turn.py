"""One chat turn: store the user message, call the model, stream, persist the reply.

Ordering guarantees (SPEC §8):
- the user message is committed before any upstream call;
- the reply is committed before the final `done` event, with its usage;
- a reply cut off (upstream reset, timeout, client gone) is stored with
  `status: "incomplete"` and the stream ends with `error`, never `done`.

The turn runs in its own task and hands events to the HTTP layer through a
queue, so a client disconnect cancels exactly one task whose cleanup (storing
the partial reply) is not itself cancelled by the web server's cancel scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.chat.candidates import Route, resolve, to_candidates
from common.chat.history import context_budget, fit, to_chat_message
from common.config.effective import TenantConfig
from common.config.models import Assistant
from common.errors import AppError, UpstreamError, UpstreamTimeout
from common.logging import get_logger, log
from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from common.providers.resilience import Candidate, resilient_stream
from common.settings import get_settings
from common.store import threads
from common.store.threads import Thread

_log = get_logger("chat")
Event = tuple[str, dict[str, Any]]
_background: set[asyncio.Task[Any]] = set()


@dataclass
class TurnResult:
    """What the JSON path returns; filled as events pass."""

    thread_id: str
    message_id: str = ""
    responses: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    model: str = ""
    provider: str = ""
    error: AppError | None = None

    def body(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "message_id": self.message_id,
            "responses": self.responses,
            "usage": self.usage,
            "model": self.model,
            "provider": self.provider,
        }


@dataclass
class Turn:
    tenant: str
    cfg: TenantConfig
    thread: Thread
    assistant: Assistant
    user_text: str
    user_message_id: str = ""
    request_id: str = ""


def _upstream_error(exc: ProviderCallError) -> AppError:
    if exc.timeout:
        return UpstreamTimeout("the model provider timed out")
    detail = f" (upstream status {exc.status})" if exc.status else ""
    return UpstreamError(f"the model provider failed{detail}: {exc.message[:300]}")


async def prepare(turn: Turn) -> list[tuple[Route, Candidate]]:
    """Everything that can fail before the user message is stored; then store it."""
    settings = get_settings()
    assistant = turn.assistant
    resolved = await resolve(turn.tenant, turn.cfg, assistant)
    turn.user_message_id = threads.new_message_id()
    stored_history, _ = await asyncio.gather(
        threads.history(turn.tenant, turn.thread.id, turn.user_message_id, settings.history_max_messages),
        threads.add_message(
            turn.tenant,
            turn.thread.id,
            {"role": "user", "content": turn.user_text, "status": "complete"},
            turn.user_message_id,
        ),
    )
    primary = resolved[0][0].model
    budget = context_budget(
        primary.max_tokens,
        assistant.max_output_tokens or primary.max_output_tokens,
        assistant.system_prompt,
        turn.user_text,
    )
    past = [m for m in (to_chat_message(s) for s in stored_history) if m]
    messages = (*fit(past, budget), ChatMessage(role="user", content=turn.user_text))
    return to_candidates(resolved, assistant, assistant.system_prompt or None, messages)


def _usage_doc(turn: Turn, route: Route, input_tokens: int, output_tokens: int) -> tuple[str, dict[str, Any]]:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    cost = (
        input_tokens * route.model.input_cost_per_million
        + output_tokens * route.model.output_cost_per_million
    ) / 1_000_000
    doc_id = f"{day}_{turn.thread.app_id}_{turn.assistant.id}"
    return doc_id, {
        "day": day,
        "app_id": turn.thread.app_id,
        "assistant_id": turn.assistant.id,
        "requests": 1,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": cost,
    }


async def _produce(
    turn: Turn, candidates: list[tuple[Route, Candidate]], out: asyncio.Queue[Event | None]
) -> None:
    settings = get_settings()
    reply_id = threads.new_message_id()
    parts: list[str] = []
    calls: list[dict[str, str]] = []
    usage = {"input_tokens": 0, "output_tokens": 0}
    route: Route = candidates[0][0]
    finished = False
    started = time.perf_counter()
    status = "incomplete"
    try:
        async for index, event in resilient_stream(
            [c for _, c in candidates],
            attempts=settings.upstream_attempts,
            base_delay=settings.retry_base_delay_s,
            max_delay=settings.retry_max_delay_s,
        ):
            route = candidates[index][0]
            if isinstance(event, TextDelta):
                if event.text:
                    parts.append(event.text)
                    await out.put(("delta", {"text": event.text}))
            elif isinstance(event, ToolCallEvent):
                calls.append(
                    {"id": event.call.id, "name": event.call.name, "arguments": event.call.arguments}
                )
            elif isinstance(event, UsageEvent):
                usage = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
            elif isinstance(event, FinishEvent):
                finished = True
        if not finished:
            raise ProviderCallError("the upstream stream ended without finishing", connection=True)
        status = "complete"
        text = "".join(parts)
        message = {
            "role": "assistant",
            "content": text,
            "tool_calls": calls,
            "model": route.model.name,
            "provider": route.provider.kind,
            "usage": usage,
            "status": status,
        }
        await threads.finish_turn(
            turn.tenant,
            turn.thread.id,
            reply_id,
            message,
            _usage_doc(turn, route, usage["input_tokens"], usage["output_tokens"]),
        )
        meta = {"model": route.model.name, "provider": route.provider.kind}
        await out.put(("message", {"message_id": reply_id, "text": text, **meta}))
        await out.put(("usage", usage))
        await out.put(("done", {"thread_id": turn.thread.id, "message_id": reply_id}))
    except ProviderCallError as exc:
        if parts:
            await _store_incomplete(turn, reply_id, parts, route, usage)
        err = _upstream_error(exc)
        await out.put(("error", {"type": err.type, "message": err.message, "status": err.status}))
    except AppError as exc:
        if parts:
            await _store_incomplete(turn, reply_id, parts, route, usage)
        await out.put(("error", {"type": exc.type, "message": exc.message, "status": exc.status}))
    except asyncio.CancelledError:
        # The client went away: keep what was produced, then stop.
        if parts:
            await _store_incomplete(turn, reply_id, parts, route, usage)
        raise
    except Exception as exc:
        if parts:
            await _store_incomplete(turn, reply_id, parts, route, usage)
        _log.exception("chat turn failed", extra={"fields": {"request_id": turn.request_id}})
        await out.put(
            (
                "error",
                {
                    "type": "internal_error",
                    "message": "internal error",
                    "status": 500,
                    "detail": type(exc).__name__,
                },
            )
        )
    finally:
        log(
            _log,
            logging.INFO,
            "chat turn",
            request_id=turn.request_id,
            tenant=turn.tenant,
            app=turn.thread.app_id,
            assistant=turn.assistant.id,
            provider=route.provider.kind,
            model=route.model.name,
            status=status,
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            upstream_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        await out.put(None)


async def _store_incomplete(
    turn: Turn, reply_id: str, parts: list[str], route: Route, usage: dict[str, int]
) -> None:
    message = {
        "role": "assistant",
        "content": "".join(parts),
        "model": route.model.name,
        "provider": route.provider.kind,
        "usage": usage,
        "status": "incomplete",
    }
    task = asyncio.get_running_loop().create_task(
        threads.finish_turn(turn.tenant, turn.thread.id, reply_id, message, None)
    )
    _background.add(task)
    task.add_done_callback(_background.discard)
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.shield(task)


async def events(turn: Turn) -> AsyncIterator[Event]:
    """Prepare (errors raise before anything is sent), then yield the turn's events."""
    candidates = await prepare(turn)
    return _drain(turn, candidates)


async def _drain(turn: Turn, candidates: list[tuple[Route, Candidate]]) -> AsyncIterator[Event]:
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    producer = asyncio.get_running_loop().create_task(_produce(turn, candidates, queue))
    _background.add(producer)
    producer.add_done_callback(_background.discard)
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            yield item
    finally:
        if not producer.done():
            producer.cancel()


async def collect(turn: Turn) -> TurnResult:
    """The non-streaming path: the same events, gathered into one JSON body."""
    result = TurnResult(thread_id=turn.thread.id)
    async for name, data in await events(turn):
        if name == "message":
            result.message_id = data["message_id"]
            result.responses.append(data["text"])
            result.model, result.provider = data["model"], data["provider"]
        elif name == "usage":
            result.usage = data
        elif name == "error":
            status = int(data.get("status", 502))
            err_cls = {504: UpstreamTimeout}.get(status, UpstreamError)
            err = err_cls(data["message"]) if status in (502, 504) else AppError(data["message"])
            if status not in (502, 504):
                err.status, err.type = status, data["type"]
            result.error = err
    if result.error:
        raise result.error
    return result
