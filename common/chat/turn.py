"""One chat turn: store the user message, run the model and its tools, stream, persist.

Ordering guarantees (SPEC §8):
- the user message is committed before any upstream call;
- the reply is committed before the final `done` event, with its usage;
- a reply cut off (upstream reset, timeout, client gone) is stored with
  `status: "incomplete"` and the stream ends with `error`, never `done`.

With tools (`common.tools.loop`), a turn is several model calls. Events:
`delta`s, a `tool_call` per call the model makes, a `tool_result` per result
(as each finishes), more `delta`s..., then `message` (the final text),
`usage` (summed over the calls) and `done`. Stored, in order after the user
message: per round an assistant message with `tool_calls` and one `tool`
message per call (`tool_call_id`, `name`, `content`, `is_error`), then the
final assistant message. A round is stored once its tools finished, so a
call is never stored without its result; a turn interrupted mid-round stores
the calls with an "interrupted" error result for each unfinished one.

Message ids continue the user message's (`ns + 1`, `ns + 2`...), so a turn's
messages stay together right after its user message even when another turn
on the thread runs concurrently.

The turn runs in its own task and hands events to the HTTP layer through a
queue, so a client disconnect cancels exactly one task whose cleanup (storing
the partial reply) is not itself cancelled by the web server's cancel scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from common.chat.budget import TurnBudget
from common.chat.candidates import Route, resolve, to_candidates
from common.chat.deadline import bounded, new_deadline
from common.chat.history import context_budget, fit, pair_tool_messages, to_chat_message
from common.config.effective import TenantConfig
from common.config.models import Assistant
from common.errors import AppError, DependencyUnavailable, RateLimited, UpstreamError, UpstreamTimeout
from common.logging import get_logger, log
from common.providers.base import ChatMessage, ProviderCallError, ToolCall
from common.providers.resilience import Candidate
from common.settings import get_settings
from common.store import threads
from common.store.threads import Thread
from common.store.usage import usage_doc
from common.tools import loop
from common.tools.base import ToolContext, ToolOutcome
from common.tools.toolset import Toolset, toolset_for

_log = get_logger("chat")
Event = tuple[str, dict[str, Any]]
_background: set[asyncio.Task[Any]] = set()
INTERRUPTED = "Error: the turn was interrupted before this tool finished."


@dataclass
class TurnResult:
    """What the JSON path returns; filled as events pass."""

    thread_id: str
    message_id: str = ""
    responses: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})
    model: str = ""
    provider: str = ""
    finish_reason: str = "stop"
    error: AppError | None = None

    def body(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "message_id": self.message_id,
            "responses": self.responses,
            "usage": self.usage,
            "model": self.model,
            "provider": self.provider,
            "finish_reason": self.finish_reason,
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
    toolset: Toolset = field(default_factory=Toolset)  # built by `prepare`
    # History read together with the thread (`access.thread_with_history`); then
    # `user_message_id` is already set and bounds it.
    prefetched_history: list[dict[str, Any]] | None = None
    # The request's `response_format` (OpenAI's shape), else the assistant's setting.
    response_format: dict[str, Any] | None = None
    user_commit: asyncio.Future[Any] | None = None  # the user message's write, set by `prepare`
    # `time.monotonic()` by which the turn ends, stored reply included (TURN_DEADLINE_S).
    deadline: float = field(default_factory=new_deadline)


async def _settle_commit(turn: Turn) -> None:
    """Wait for the user message's write to end either way (a failed turn must not leave it running)."""
    if turn.user_commit is not None:
        with contextlib.suppress(Exception):
            await asyncio.shield(turn.user_commit)


async def prepare(turn: Turn) -> list[tuple[Route, Candidate]]:
    """Everything that can fail before the user message is stored; then start storing it.

    The user message's commit runs in `turn.user_commit` while the caller starts
    the model call: the upstream's own latency hides the round trip. Nothing of
    the reply reaches the caller or the store before the commit is acknowledged
    (`events` awaits it; `_produce` awaits it before its first event).
    """
    settings = get_settings()
    assistant = turn.assistant
    resolved = await resolve(turn.tenant, turn.cfg, assistant)
    turn.toolset = toolset_for(turn.tenant, turn.cfg, assistant, default_timeout_s=settings.tool_timeout_s)
    user_message = {"role": "user", "content": turn.user_text, "status": "complete"}
    first = not turn.thread.has_messages
    if turn.prefetched_history is None:
        turn.user_message_id = threads.new_message_id()
    turn.user_commit = asyncio.ensure_future(
        threads.add_message(turn.tenant, turn.thread.id, user_message, turn.user_message_id, first=first)
    )
    if turn.prefetched_history is not None:
        stored_history = turn.prefetched_history
    else:
        try:
            stored_history = await threads.history(
                turn.tenant, turn.thread.id, turn.user_message_id, settings.history_max_messages
            )
        except BaseException:
            await _settle_commit(turn)
            raise
    primary = resolved[0][0].model
    budget = context_budget(
        primary.max_tokens,
        assistant.max_output_tokens or primary.max_output_tokens,
        assistant.system_prompt,
        turn.user_text,
    )
    past = pair_tool_messages([m for m in (to_chat_message(s) for s in stored_history) if m])
    messages = (*fit(past, budget), ChatMessage(role="user", content=turn.user_text))
    system = assistant.system_prompt or None
    response_format = turn.response_format or assistant.response_format
    return to_candidates(
        resolved, assistant, system, messages, tools=turn.toolset.specs, response_format=response_format
    )


@dataclass
class _Progress:
    """What the turn produced so far, so that it can be stored whatever happens."""

    route: Route
    last_id: str
    parts: list[str] = field(default_factory=list)  # text of the current round
    calls: list[ToolCall] = field(default_factory=list)  # calls of the current round
    results: dict[str, ToolOutcome] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    stored_final: bool = False

    def next_id(self) -> str:
        """The id after the previous one: same `{ns:020d}-{random}` shape, ns + 1."""
        ns = int(self.last_id.split("-", 1)[0]) + 1
        self.last_id = f"{ns:020d}-{threads.new_message_id().split('-', 1)[1]}"
        return self.last_id

    def count(self, route: Route, step: loop.Step) -> None:
        self.route = route
        self.input_tokens += step.input_tokens
        self.output_tokens += step.output_tokens
        self.cost += (
            step.input_tokens * route.model.input_cost_per_million
            + step.output_tokens * route.model.output_cost_per_million
        ) / 1_000_000

    @property
    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


def _usage_doc(turn: Turn, p: _Progress) -> tuple[str, dict[str, Any]]:
    return usage_doc(turn.thread.app_id, turn.assistant.id, p.input_tokens, p.output_tokens, p.cost)


def _assistant_doc(
    route: Route, text: str, calls: list[ToolCall], usage: dict[str, int], status: str
) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
        "model": route.model.name,
        "provider": route.provider.kind,
        "usage": usage,
        "status": status,
    }


def _tool_doc(outcome: ToolOutcome) -> dict[str, Any]:
    call = outcome.call
    return {
        "role": "tool",
        "tool_call_id": call.id,
        "name": call.name,
        "content": outcome.result,
        "is_error": outcome.is_error,
        "status": "complete",
    }


async def _store_round(
    turn: Turn, p: _Progress, assistant: dict[str, Any], outcomes: list[ToolOutcome]
) -> None:
    """An assistant message with its calls and every call's result, in order."""
    docs = [(p.next_id(), assistant), *((p.next_id(), _tool_doc(o)) for o in outcomes)]
    await asyncio.gather(*(threads.add_message(turn.tenant, turn.thread.id, doc, mid) for mid, doc in docs))


async def _produce(
    turn: Turn, candidates: list[tuple[Route, Candidate]], out: asyncio.Queue[Event | None]
) -> None:
    p = _Progress(route=candidates[0][0], last_id=turn.user_message_id or threads.new_message_id())
    ctx = ToolContext(turn.tenant, turn.thread.app_id, turn.assistant.id, turn.thread.id, turn.request_id)
    limits = loop.limits_for(turn.assistant)
    started = time.perf_counter()
    status = "incomplete"
    try:
        meter = TurnBudget.for_turn(turn.tenant, turn.cfg.tenant, [r for r, _ in candidates])
        run = loop.run([c for _, c in candidates], turn.toolset, ctx, limits, meter=meter)
        events = bounded(run, turn.deadline)  # TURN_DEADLINE_S
        async with contextlib.aclosing(events):
            async for ev in events:
                if turn.user_commit is not None and not turn.user_commit.done():
                    try:  # the upstream answered before the user message was stored: hold it
                        await asyncio.shield(turn.user_commit)
                    except Exception:
                        return  # `events` answers 503 and cancels this task; store nothing
                if isinstance(ev, loop.Delta):
                    p.route = candidates[ev.index][0]
                    p.parts.append(ev.text)
                    await out.put(("delta", {"text": ev.text}))
                elif isinstance(ev, loop.CallRequested):
                    p.route = candidates[ev.index][0]
                    p.calls.append(ev.call)
                    call = ev.call
                    await out.put(
                        ("tool_call", {"id": call.id, "name": call.name, "arguments": call.arguments})
                    )
                elif isinstance(ev, loop.ResultReady):
                    o = ev.outcome
                    p.results[o.call.id] = o
                    data = {"id": o.call.id, "name": o.call.name, "result": o.result, "is_error": o.is_error}
                    await out.put(("tool_result", data))
                elif not ev.final:
                    route = candidates[ev.index][0]
                    p.count(route, ev)
                    usage = {"input_tokens": ev.input_tokens, "output_tokens": ev.output_tokens}
                    doc = _assistant_doc(route, ev.text, list(ev.calls), usage, "complete")
                    p.parts, p.calls, p.results = [], [], {}  # from here on the round is stored
                    await _shielded(_store_round(turn, p, doc, list(ev.outcomes)))
                else:
                    route = candidates[ev.index][0]
                    p.count(route, ev)
                    usage = {"input_tokens": ev.input_tokens, "output_tokens": ev.output_tokens}
                    reply_id = p.next_id()
                    message = _assistant_doc(route, ev.text, [], usage, "complete")
                    await _store_reply(turn, reply_id, message, _usage_doc(turn, p))
                    p.stored_final, status = True, "complete"
                    meta = {
                        "model": route.model.name,
                        "provider": route.provider.kind,
                        "finish_reason": ev.finish_reason,
                    }
                    await out.put(("message", {"message_id": reply_id, "text": ev.text, **meta}))
                    await out.put(("usage", p.usage))
                    await out.put(("done", {"thread_id": turn.thread.id, "message_id": reply_id}))
    except ProviderCallError as exc:
        await _store_incomplete(turn, p)
        err = loop.upstream_error(exc)
        await out.put(("error", {"type": err.type, "message": err.message, "status": err.status}))
    except AppError as exc:
        await _store_incomplete(turn, p)
        error = {"type": exc.type, "message": exc.message, "status": exc.status}
        if isinstance(exc, RateLimited):  # a budget the history tipped over: 429 with Retry-After
            error["retry_after"] = exc.retry_after
        await out.put(("error", error))
    except asyncio.CancelledError:
        # The client went away: keep what was produced, then stop.
        await _store_incomplete(turn, p)
        raise
    except Exception as exc:
        await _store_incomplete(turn, p)
        _log.exception("chat turn failed", extra={"fields": {"request_id": turn.request_id}})
        error = {
            "type": "internal_error",
            "message": "internal error",
            "status": 500,
            "detail": type(exc).__name__,
        }
        await out.put(("error", error))
    finally:
        upstream_ms = round((time.perf_counter() - started) * 1000, 2)
        await out.put(None)
        await asyncio.sleep(0)  # let the response go out first: the log line is not on its path
        log(
            _log,
            logging.INFO,
            "chat turn",
            request_id=turn.request_id,
            tenant=turn.tenant,
            app=turn.thread.app_id,
            assistant=turn.assistant.id,
            provider=p.route.provider.kind,
            model=p.route.model.name,
            status=status,
            input_tokens=p.input_tokens,
            output_tokens=p.output_tokens,
            upstream_ms=upstream_ms,
            # Message bodies only when an operator turns debug logging on (SPEC §9).
            **({"user_text": turn.user_text} if get_settings().debug_logging else {}),
        )


REPLY_STORE_ATTEMPTS = 3


async def _store_reply(
    turn: Turn, reply_id: str, message: dict[str, Any], usage: tuple[str, dict[str, Any]]
) -> None:
    """Store the final reply, retrying an outage; `done` is sent only after this returns.

    The commit creates the reply document, so a retry after a commit whose answer was
    lost fails with AlreadyExists: the reply is stored, and the usage counted once.
    """
    for attempt in range(REPLY_STORE_ATTEMPTS):
        try:
            await threads.finish_turn(turn.tenant, turn.thread.id, reply_id, message, usage)
            return
        except DependencyUnavailable:
            if attempt + 1 >= REPLY_STORE_ATTEMPTS or time.monotonic() >= turn.deadline:
                raise
            await asyncio.sleep(0.25 * 2**attempt)
        except Exception as exc:
            if attempt and type(exc).__name__ == "AlreadyExists":
                return
            raise


async def _store_incomplete(turn: Turn, p: _Progress) -> None:
    """Store the unfinished round (text and/or calls) as incomplete, shielded from cancellation.

    Calls get their results, or an "interrupted" error result, so the stored
    thread stays a valid history for the next turn.
    """
    if p.stored_final or not (p.parts or p.calls):
        return
    message = _assistant_doc(
        p.route, "".join(p.parts), p.calls, {"input_tokens": 0, "output_tokens": 0}, "incomplete"
    )
    if p.calls:
        outcomes = [p.results.get(c.id) or ToolOutcome(c, INTERRUPTED, is_error=True) for c in p.calls]
        job = _store_round(turn, p, message, outcomes)
    else:
        message.pop("tool_calls")
        job = threads.finish_turn(turn.tenant, turn.thread.id, p.next_id(), message, None)
    try:
        await _shielded(job)
    except (Exception, asyncio.CancelledError) as exc:
        log(
            _log,
            logging.WARNING,
            "partial reply not stored",
            request_id=turn.request_id,
            error=type(exc).__name__,
        )


async def _shielded(job: Coroutine[Any, Any, None]) -> None:
    """Run a write to the end even if the turn is cancelled (the client left) meanwhile."""
    task = asyncio.get_running_loop().create_task(job)
    _background.add(task)
    task.add_done_callback(_background.discard)
    await asyncio.shield(task)


async def events(turn: Turn) -> AsyncIterator[Event]:
    """Prepare (errors raise before anything is sent), then yield the turn's events.

    The model call starts here, not when the caller first iterates: it overlaps
    sending the response headers (and the `thread` event), and events wait in the
    queue meanwhile. A caller that never iterates still gets the turn completed
    and stored.
    """
    candidates = await prepare(turn)
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    producer = asyncio.get_running_loop().create_task(_produce(turn, candidates, queue))
    _background.add(producer)
    producer.add_done_callback(_background.discard)
    try:
        if turn.user_commit is not None:
            await asyncio.shield(turn.user_commit)  # a failed commit is a plain 503, nothing sent
    except BaseException:
        producer.cancel()
        raise
    return _drain(queue, producer)


async def _drain(queue: asyncio.Queue[Event | None], producer: asyncio.Task[None]) -> AsyncIterator[Event]:
    ended = False
    try:
        while True:
            item = await queue.get()
            if item is None:
                ended = True
                break
            yield item
    finally:
        if not ended and not producer.done():  # the caller left early: stop the turn
            producer.cancel()


async def collect(turn: Turn) -> TurnResult:
    """The non-streaming path: the same events, gathered into one JSON body."""
    result = TurnResult(thread_id=turn.thread.id)
    async for name, data in await events(turn):
        if name == "message":
            result.message_id = data["message_id"]
            result.responses.append(data["text"])
            result.model, result.provider = data["model"], data["provider"]
            result.finish_reason = data["finish_reason"]
        elif name == "usage":
            result.usage = data
        elif name == "error":
            status = int(data.get("status", 502))
            err_cls = {502: UpstreamError, 504: UpstreamTimeout}.get(status, AppError)
            err = (
                RateLimited(data["message"], retry_after=data["retry_after"])
                if "retry_after" in data
                else err_cls(data["message"])
            )
            err.status, err.type = status, data["type"]
            result.error = err
    if result.error:
        raise result.error
    return result
