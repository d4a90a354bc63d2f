"""`chat`: talk to the key's assistants, as JSON or Server-Sent Events, natively or through
the OpenAI-compatible `/v1` endpoints (SPEC §6)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.chat import budget, idempotency, limits
from common.chat import turn as chat_turn
from common.chat.access import (
    Caller,
    Prefetched,
    assistant_of,
    caller,
    check_message,
    thread_of,
    thread_with_history,
)
from common.chat.actions import ActionRequest, find_action, public_assistant, render, validate_input
from common.chat.candidates import preload_sdks
from common.chat.compat_request import CompletionRequest
from common.chat.completions import Completion, Outcome, model_info, models_list
from common.chat.schemas import AppChatRequest, ChatRequest
from common.config.models import Assistant
from common.errors import AppError, NotFound
from common.http.request import parse
from common.http.responses import error_response, json_response, openai_error_body
from common.http.routing import Ctx, Router
from common.http.sse import SSE_HEADERS, sse, sse_data
from common.providers.base import ToolCall
from common.settings import get_settings
from common.store import threads
from common.store.threads import Thread

router = Router("chat")
_background: set[asyncio.Task[None]] = set()


def _wants_stream(ctx: Ctx, flag: bool | None, assistant: Assistant) -> bool:
    if flag is not None:
        return flag
    return "text/event-stream" in ctx.request.headers.get("accept", "") or assistant.is_streaming


async def _run(
    ctx: Ctx,
    c: Caller,
    thread: Thread,
    assistant: Assistant,
    text: str,
    stream: bool,
    prefetched: Prefetched | None = None,
    response_format: dict[str, Any] | None = None,
) -> Response:
    preload_sdks(c.cfg, assistant)  # an instance's first turn imports the SDK during its own I/O
    await budget.admit(c.tenant, c.cfg, assistant, text)  # before the user message is stored
    turn = chat_turn.Turn(c.tenant, c.cfg, thread, assistant, text, request_id=ctx.request_id)
    turn.response_format = response_format
    if prefetched is not None:
        turn.user_message_id, turn.prefetched_history = prefetched.user_message_id, prefetched.history
    ctx.log_fields.update(tenant=c.tenant, app=c.app.id, assistant=assistant.id, stream=stream)
    if not stream:
        result = await chat_turn.collect(turn)
        return json_response(result.body())
    events = await chat_turn.events(turn)  # errors before the first byte are plain JSON errors

    async def body() -> AsyncIterator[bytes]:
        yield sse("thread", {"thread_id": thread.id, "assistant": assistant.slug})
        async for name, data in events:
            if name == "error":
                data = {"type": data["type"], "message": data["message"]}
            yield sse(name, data)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


async def _idempotent(
    ctx: Ctx, c: Caller, route: str, payload: Callable[[], Any], run: Callable[[], Awaitable[Response]]
) -> Response:
    """Run once per Idempotency-Key; replays get the stored response (SPEC §8). `payload`
    (the body as compared with a replay's) is only built when the request has a key."""
    key = ctx.request.headers.get(idempotency.HEADER)
    if key is None:
        return await run()
    claimed = await idempotency.claim(c.tenant, c.key.key_id, key, route, payload())
    if isinstance(claimed, idempotency.Stored):
        headers = {"Idempotent-Replayed": "true"}
        return Response(
            claimed.body, status_code=claimed.status, media_type=claimed.media_type, headers=headers
        )
    try:
        response = await run()
    except AppError as exc:
        response = error_response(exc, ctx.request_id, ctx.error_style)
    except BaseException:
        await idempotency.finish(claimed, 500, b"", "")
        raise
    if not isinstance(response, StreamingResponse):
        await idempotency.finish(
            claimed, response.status_code, bytes(response.body), response.media_type or ""
        )
        return response
    inner = response.body_iterator

    async def recorded() -> AsyncIterator[bytes]:
        chunks: list[bytes] = []
        complete = False
        try:
            async for chunk in inner:
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                chunks.append(data)
                yield data
            complete = True
        finally:
            body = b"".join(chunks)
            ok = complete and b"event: error" not in body and b'data: {"error"' not in body
            # Shielded: a client disconnect cancels this generator, not the bookkeeping.
            done = asyncio.get_running_loop().create_task(
                idempotency.finish(claimed, 200 if ok else 500, body, "text/event-stream")
            )
            _background.add(done)
            done.add_done_callback(_background.discard)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(done)

    response.body_iterator = recorded()
    return response


async def _thread_for(
    c: Caller, assistant: Assistant, thread_id: str | None, metadata: dict[str, Any]
) -> Prefetched:
    """The given thread of this assistant (404 otherwise), or a new one, whose history is
    known to be empty without a read."""
    if thread_id:
        found = await thread_with_history(c, thread_id)
        if found.thread.assistant_id != assistant.id:
            raise NotFound("thread not found")
        return found
    thread = await threads.create_thread(c.tenant, c.app.id, assistant.id, metadata)
    return Prefetched(thread, threads.new_message_id(), [])


async def _chat(ctx: Ctx) -> Response:
    c = await caller(ctx.request)
    await limits.check(c)  # before anything is stored or sent upstream
    body = await parse(ctx.request, ChatRequest, get_settings().max_body_bytes)
    text = check_message(body.message)

    async def run() -> Response:
        found = await thread_with_history(c, body.thread_id)
        assistant = c.cfg.assistant(c.app.id, found.thread.assistant_id)
        if assistant is None:
            raise NotFound("the thread's assistant is no longer available")
        stream = _wants_stream(ctx, body.stream, assistant)
        fmt = body.response_format.wire() if body.response_format else None
        return await _run(ctx, c, found.thread, assistant, text, stream, found, fmt)

    return await _idempotent(ctx, c, "chat", body.model_dump, run)


async def _app_chat(ctx: Ctx) -> Response:
    c = await caller(ctx.request)
    await limits.check(c)  # before anything is stored or sent upstream
    if ctx.params["app"] not in (c.app.slug, c.app.id):
        raise NotFound("app not found")
    body = await parse(ctx.request, AppChatRequest, get_settings().max_body_bytes)
    text = check_message(body.message)
    assistant = assistant_of(c, ctx.params["assistant"])
    found = await _thread_for(c, assistant, body.thread_id, body.metadata)
    stream = _wants_stream(ctx, body.stream, assistant)
    fmt = body.response_format.wire() if body.response_format else None
    return await _run(ctx, c, found.thread, assistant, text, stream, found, fmt)


async def _messages(ctx: Ctx) -> Response:
    c = await caller(ctx.request, ("chat", "threads:read"))
    thread = await thread_of(c, ctx.params["thread_id"])
    query = ctx.request.query_params
    try:
        limit = max(1, min(int(query.get("limit", "100")), 500))
    except ValueError:
        limit = 100
    items = await threads.list_messages(c.tenant, thread.id, limit + 1, query.get("page_token"))
    page, more = items[:limit], len(items) > limit
    return json_response(
        {
            "thread_id": thread.id,
            "messages": [_public_message(m) for m in page],
            "next_page_token": page[-1]["id"] if more else None,
        }
    )


def _public_message(m: dict[str, object]) -> dict[str, object]:
    keys = (
        "id",
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "name",
        "is_error",
        "model",
        "provider",
        "usage",
        "status",
        "created_at",
    )
    return {k: m[k] for k in keys if k in m}


async def _assistants(ctx: Ctx) -> Response:
    c = await caller(ctx.request, ("chat", "actions"))
    items = sorted(c.cfg.app_assistants(c.app.id), key=lambda a: a.slug)
    return json_response({"app": c.app.slug, "assistants": [public_assistant(a) for a in items]})


async def _assistant(ctx: Ctx) -> Response:
    c = await caller(ctx.request, ("chat", "actions"))
    return json_response(public_assistant(assistant_of(c, ctx.params["assistant"])))


async def _action(ctx: Ctx) -> Response:
    c = await caller(ctx.request, ("chat", "actions"))
    await limits.check(c)  # before anything is stored or sent upstream
    assistant = assistant_of(c, ctx.params["assistant"])
    action = find_action(assistant, ctx.params["action"])
    body = await parse(ctx.request, ActionRequest, get_settings().max_body_bytes)
    await validate_input(action, body.input)
    text = check_message(render(action.template, body.input))
    found = await _thread_for(c, assistant, body.thread_id, {"action": ctx.params["action"]})
    stream = _wants_stream(ctx, body.stream, assistant)
    return await _run(ctx, c, found.thread, assistant, text, stream, found)


async def _completions(ctx: Ctx) -> Response:
    c = await caller(ctx.request)
    await limits.check(c)  # before anything is stored or sent upstream
    body = await parse(ctx.request, CompletionRequest, get_settings().max_body_bytes)
    return await _idempotent(ctx, c, "completions", body.model_dump, lambda: _complete(ctx, c, body))


async def _complete(ctx: Ctx, c: Caller, body: CompletionRequest) -> Response:
    completion = Completion(c, body)
    await completion.start()
    ctx.log_fields.update(
        tenant=c.tenant, app=c.app.id, assistant=completion.assistant.id, stream=bool(body.stream)
    )
    if body.user is not None:  # the caller's end-user id, for tracing abuse back (never the text)
        ctx.log_fields["end_user"] = body.user
    out = Outcome()
    if not body.stream:
        async for _ in completion.events(out):
            pass
        return json_response(completion.response(out))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    # The model call starts now, not when the body is first iterated: it overlaps the
    # response start and the role chunk going out (as `/chat` does; see `_first_event`).
    events = completion.events(out)
    first = _first_event(events)
    for _ in range(3):  # let it run to its first wait (the request is on the wire) before ours
        await asyncio.sleep(0)

    async def chunks() -> AsyncIterator[bytes]:
        yield sse_data(completion.chunk({"role": "assistant", "content": ""}))
        calls = 0
        try:
            item = await first
            while item is not None:
                if isinstance(item, ToolCall):
                    yield sse_data(completion.tool_call_chunk(calls, item))
                    calls += 1
                else:
                    yield sse_data(completion.text_chunk(item))
                item = await anext(events, None)
        except AppError as exc:
            # OpenAI clients raise on an `error` chunk; no [DONE] marks the stream as cut.
            yield sse_data(openai_error_body(exc, exc.status, ctx.request_id))
            return
        finally:
            if not first.done():  # the caller left while the model was still silent
                first.cancel()
            else:
                await events.aclose()
        yield sse_data(completion.chunk({}, out.finish_reason))
        if include_usage:
            yield sse_data(completion.usage_chunk(out))
        yield sse_data(b"[DONE]")

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)


def _first_event(events: AsyncIterator[Any]) -> asyncio.Future[Any]:
    """The first item of `events` (None at its end), already being produced in a task.

    A caller that never reads it (the client left before the body was iterated) costs at
    most the upstream call up to its first event; the generator is finalized when collected.
    """
    first: asyncio.Future[Any] = asyncio.ensure_future(anext(events, None))
    first.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "never retrieved"
    return first


async def _models(ctx: Ctx) -> Response:
    return json_response(models_list(await caller(ctx.request)))


async def _model(ctx: Ctx) -> Response:
    return json_response(model_info(await caller(ctx.request), ctx.params["model"]))


router.add("POST", "/", _chat)
router.add("GET", "/threads/{thread_id}/messages", _messages)
router.add("POST", "/app/{app}/{assistant}", _app_chat)
router.add("GET", "/assistants", _assistants)
router.add("GET", "/assistants/{assistant}", _assistant)
router.add("POST", "/assistants/{assistant}/actions/{action}", _action)
router.add("POST", "/v1/chat/completions", _completions)
router.add("GET", "/v1/models", _models)
router.add("GET", "/v1/models/{model}", _model)


@functions_framework.aio.http
async def chat(request: Request) -> Response:
    return await router(request)
