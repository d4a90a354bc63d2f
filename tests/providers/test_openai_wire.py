"""`openai_wire` against what aimock never sends: SSE written other ways than OpenAI writes
it, errors inside the stream, a server that ignores `stream: true`, a redirect, oversized
lines and bodies. A real aiohttp server on loopback answers with the exact bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from common.providers import openai_wire
from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCallEvent,
    UsageEvent,
)
from common.providers.openai_wire import OpenAIWireAdapter
from tests.support.services import free_port

KEY = "sk-wire-canary-0123456789"
REQUEST = ProviderRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def chunk(content: str | None = None, finish: str | None = None, **extra: object) -> dict[str, object]:
    delta = {"content": content} if content is not None else {}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def sse(*chunks: object, done: bool = True, sep: str = "\n") -> bytes:
    body = "".join(f"data: {json.dumps(c)}{sep}{sep}" for c in chunks)
    return (body + (f"data: [DONE]{sep}{sep}" if done else "")).encode()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


def raw(body: bytes, content_type: str = "text/event-stream", status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers={"Content-Type": content_type})

    return handler


async def events(url: str) -> list[ProviderEvent]:
    adapter = OpenAIWireAdapter(KEY, url, 5.0)
    try:
        return [e async for e in adapter.stream(REQUEST)]
    finally:
        await adapter.aclose()


async def failure(url: str) -> ProviderCallError:
    with pytest.raises(ProviderCallError) as info:
        await events(url)
    assert KEY not in str(info.value)
    return info.value


async def test_the_request_is_what_the_sdk_sends(serve: Callable[[Handler], Awaitable[str]]) -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update(path=request.path, auth=request.headers["Authorization"], body=await request.json())
        return web.Response(body=sse(chunk("ok", "stop")), content_type="text/event-stream")

    url = await serve(handler)
    await events(url + "/")  # a trailing slash on the base URL changes nothing

    assert seen["path"] == "/v1/chat/completions"
    assert seen["auth"] == f"Bearer {KEY}"
    assert seen["body"] == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_sse_in_every_form_the_spec_allows(serve: Callable[[Handler], Awaitable[str]]) -> None:
    body = (
        b": keep-alive comment\r\n\r\n"
        + b"data:"
        + json.dumps(chunk("no space, ")).encode()
        + b"\r\n\r\n"  # CRLF, no space
        + b'data: {"choices": [{"index": 0,\ndata:  "delta": {"content": "split data"}}]}\n\n'
        + b"event: ping\ndata: {}\n\n"  # a named event: skipped
        + sse(chunk(None, "stop"), {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
    )
    got = await events(await serve(raw(body)))

    assert [e.text for e in got if isinstance(e, TextDelta)] == ["no space, ", "split data"]
    assert got[-2:] == [UsageEvent(3, 4), FinishEvent("stop")]


async def test_an_error_inside_the_stream_raises(serve: Callable[[Handler], Awaitable[str]]) -> None:
    as_chunk = sse(chunk("partial"), {"error": {"message": f"overloaded ({KEY})"}})
    assert "overloaded" in (await failure(await serve(raw(as_chunk)))).message
    as_event = b'event: error\ndata: {"error": {"message": "server melted"}}\n\n'
    assert "server melted" in (await failure(await serve(raw(as_event)))).message


async def test_a_json_reply_to_a_streamed_request_is_understood(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "whole",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2},
    }
    body = json.dumps(completion).encode()

    async def in_pieces(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for i in range(0, len(body), 40):  # many reads on our side, not one
            await resp.write(body[i : i + 40])
            await asyncio.sleep(0.002)
        await resp.write_eof()
        return resp

    got = await events(await serve(in_pieces))

    assert got[0] == TextDelta("whole")
    assert isinstance(got[1], ToolCallEvent) and got[1].call.name == "f"
    assert got[2:] == [UsageEvent(1, 2), FinishEvent("tool_calls")]


async def test_a_redirect_is_never_followed(serve: Callable[[Handler], Awaitable[str]]) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        reached.append(request.headers.get("Authorization", ""))
        return web.Response(body=sse(chunk("stolen", "stop")), content_type="text/event-stream")

    target = await serve(elsewhere)

    async def bounce(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(target + "/chat/completions")

    error = await failure(await serve(bounce))

    assert error.status == 307
    assert reached == []  # the key never left for the other host


async def test_error_bodies_are_read_within_a_bound(serve: Callable[[Handler], Awaitable[str]]) -> None:
    flood = b"x" * (openai_wire.MAX_ERROR_BYTES * 4)
    error = await failure(await serve(raw(flood, "text/plain", status=502)))
    assert error.status == 502 and error.retryable
    assert len(error.message) < openai_wire.MAX_ERROR_BYTES + 100
    plain = await failure(await serve(raw(b"Bad Gateway", "text/html", status=502)))
    assert "Bad Gateway" in plain.message


async def test_a_line_over_the_bound_fails_the_call(
    serve: Callable[[Handler], Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_wire, "MAX_LINE_BYTES", 1000)
    endless = b"data: " + b"y" * 5000  # no newline, ever
    error = await failure(await serve(raw(endless)))
    assert "malformed" in error.message and not error.retryable


async def test_a_body_without_a_finish_reason_is_a_cut_stream(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    error = await failure(await serve(raw(sse(chunk("half"), done=False))))
    assert error.connection and error.retryable


async def test_connections_go_only_to_addresses_the_guard_accepted(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    """A host that resolves to an internal address at connect time gets no connection (DNS
    rebinding after the call-time check); an allow-listed host does."""
    hits: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        return web.Response(body=sse(chunk("ok", "stop")), content_type="text/event-stream")

    url = (await serve(handler)).replace("127.0.0.1", "localhost")
    guarded = OpenAIWireAdapter(KEY, url, 5.0, allowed_hosts=())
    try:
        with pytest.raises(ProviderCallError) as info:
            [e async for e in guarded.stream(REQUEST)]
    finally:
        await guarded.aclose()
    assert info.value.connection and "not public" in info.value.message
    assert hits == []

    allowed = OpenAIWireAdapter(KEY, url, 5.0, allowed_hosts=("localhost",))
    try:
        got = [e async for e in allowed.stream(REQUEST)]
    finally:
        await allowed.aclose()
    assert got[-1] == FinishEvent("stop") and hits == ["/v1/chat/completions"]


async def test_done_ends_the_reply_even_if_the_body_stays_open(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def lingering(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse(chunk("whole", "stop")))
        for _ in range(100):  # a byte now and then after [DONE], for 10 s
            await resp.write(b":\n")
            await asyncio.sleep(0.1)
        return resp

    started = asyncio.get_running_loop().time()
    got = await events(await serve(lingering))
    assert got[-1] == FinishEvent("stop")
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_stream_over_the_bound_fails_the_call(
    serve: Callable[[Handler], Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openai_wire, "MAX_STREAM_BYTES", 10_000)
    flood = sse(*(chunk("x" * 100) for _ in range(200)), chunk(None, "stop"))
    error = await failure(await serve(raw(flood)))
    assert "malformed" in error.message and "10000 bytes" in error.message
