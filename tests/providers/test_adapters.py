"""Each adapter against a real aimock over HTTP: streaming, tools, history, errors, cut streams.

aimock fixtures are global to the session, so every test keys its fixture on
a unique marker in the last user message. The journal shows what reached the
wire: OpenAI and Cohere bodies as sent, Gemini's after aimock translated its
`contents`/`functionResponse` parts into chat messages (which it only does
for well-formed Gemini requests).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import pytest

from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderAdapter,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
    complete,
)
from tests.support.services import Aimock, Service

CANARY = "sk-canary-123456789"
TEXT = "The quick brown fox jumps over the lazy dog."
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _openai(http_client: Literal["wire", "aiohttp", "httpx"]) -> Callable[[str, float], ProviderAdapter]:
    """`wire` is our own client (the default); `aiohttp` and `httpx` the official SDK's."""

    def make(url: str, timeout: float) -> ProviderAdapter:
        if http_client == "wire":
            from common.providers.openai_wire import OpenAIWireAdapter

            return OpenAIWireAdapter(CANARY, f"{url}/v1", timeout)
        from common.providers.openai import OpenAIAdapter

        return OpenAIAdapter(CANARY, f"{url}/v1", timeout, http_client=http_client)

    return make


def _cohere(url: str, timeout: float) -> ProviderAdapter:
    from common.providers.cohere import CohereAdapter

    return CohereAdapter(CANARY, url, timeout)


def _gemini(http_client: Literal["aiohttp", "httpx"]) -> Callable[[str, float], ProviderAdapter]:
    def make(url: str, timeout: float) -> ProviderAdapter:
        from common.providers.gemini import GeminiAdapter

        return GeminiAdapter(CANARY, url, timeout, http_client=http_client)

    return make


TARGETS: dict[str, tuple[Callable[[str, float], ProviderAdapter], str]] = {
    "openai": (_openai("wire"), "gpt-4o-mini"),
    "openai-sdk": (_openai("aiohttp"), "gpt-4o-mini"),
    "openai-sdk-httpx": (_openai("httpx"), "gpt-4o-mini"),
    "cohere": (_cohere, "command-r-plus"),
    "gemini": (_gemini("httpx"), "gemini-2.0-flash"),
    "gemini-aiohttp": (_gemini("aiohttp"), "gemini-2.0-flash"),
}


class Target:
    def __init__(self, name: str, adapter: ProviderAdapter, model: str) -> None:
        self.name, self.adapter, self.model = name, adapter, model

    def request(self, *messages: ChatMessage, **kw: Any) -> ProviderRequest:
        return ProviderRequest(model=self.model, messages=messages, **kw)


@pytest.fixture(params=list(TARGETS))
async def target(request: pytest.FixtureRequest, aimock_server: Service) -> AsyncIterator[Target]:
    make, model = TARGETS[request.param]
    adapter = make(aimock_server.url, 10.0)
    yield Target(request.param, adapter, model)
    await adapter.aclose()


def marker() -> str:
    return f"mk-{uuid.uuid4().hex}"


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


async def collect(adapter: ProviderAdapter, request: ProviderRequest) -> list[ProviderEvent]:
    return [event async for event in adapter.stream(request)]


def journal_body(mock: Aimock, mark: str) -> dict[str, Any]:
    entries = [e for e in mock.journal() if mark in json.dumps(e.get("body"))]
    assert entries, f"no request with {mark} reached aimock"
    body: dict[str, Any] = entries[-1]["body"]
    return body


async def test_text_streams_as_deltas_then_usage_and_finish(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": TEXT}, "chunkSize": 8})

    events = await collect(target.adapter, target.request(user(mark)))

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 3
    assert "".join(d.text for d in deltas) == TEXT
    assert isinstance(events[-2], UsageEvent)
    assert events[-1] == FinishEvent("stop")


async def test_caller_leaving_early_closes_the_stream_cleanly(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": TEXT}, "chunkSize": 4, "latency": 20})

    events = target.adapter.stream(target.request(user(mark)))
    first = await anext(aiter(events))
    await events.aclose()  # type: ignore[attr-defined]  # what a disconnected client triggers

    assert isinstance(first, TextDelta)
    result = await complete(target.adapter, target.request(user(mark)))  # the client is still usable
    assert result.text == TEXT


async def test_complete_returns_the_full_text(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": TEXT}, "chunkSize": 5})

    result = await complete(target.adapter, target.request(user(mark)))

    assert result.text == TEXT
    assert result.finish_reason == "stop"
    assert result.tool_calls == []


async def test_history_and_system_prompt_reach_the_upstream(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": "ok"}})
    request = target.request(
        user("What is the capital of France?"),
        ChatMessage(role="assistant", content="Paris is the capital."),
        user(f"And of Italy? {mark}"),
        system="Be brief.",
    )

    await complete(target.adapter, request)

    messages = journal_body(mock, mark)["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert {"role": "user", "content": "What is the capital of France?"} in messages
    assert {"role": "assistant", "content": "Paris is the capital."} in messages
    assert messages[-1] == {"role": "user", "content": f"And of Italy? {mark}"}


async def test_tool_call_is_parsed(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add(
        {
            "match": {"userMessage": mark},
            "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        }
    )

    events = await collect(target.adapter, target.request(user(mark), tools=(WEATHER,)))

    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert calls[0].id
    assert events[-1] == FinishEvent("tool_calls")
    assert events.index(next(e for e in events if isinstance(e, ToolCallEvent))) < len(events) - 1
    tools = journal_body(mock, mark)["tools"]
    assert tools[0]["function"]["name"] == "get_weather"


async def test_parallel_tool_calls_arrive_in_order(target: Target, mock: Aimock) -> None:
    mark = marker()
    cities = [{"city": "Paris"}, {"city": "Rome"}]
    mock.add(
        {
            "match": {"userMessage": mark},
            "response": {"toolCalls": [{"name": "get_weather", "arguments": c} for c in cities]},
        }
    )

    result = await complete(target.adapter, target.request(user(mark), tools=(WEATHER,)))

    assert [json.loads(c.arguments) for c in result.tool_calls] == cities
    assert len({c.id for c in result.tool_calls}) == 2
    assert result.finish_reason == "tool_calls"


def test_openai_tool_call_fragments_accumulate_by_index() -> None:
    from common.providers.openai_chat import _ToolCallBuffer

    buffer = _ToolCallBuffer()
    for fragment in (  # as they arrive on the wire (the adapter parses raw SSE chunks)
        {"index": 0, "id": "call_a", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": '{"tz"'}},
        {"index": 0, "id": None, "function": {"name": None, "arguments": '{"city": '}},
        {"index": 0, "function": {"arguments": '"Paris"}'}},
        {"index": 1, "id": None, "function": {"name": None, "arguments": ': "UTC"}'}},
    ):
        buffer.add(fragment)

    calls = buffer.drain()

    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "UTC"}),
    ]
    assert buffer.drain() == []


async def test_tool_result_reaches_the_upstream_in_its_format(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": "It is 21 degrees in Paris."}})
    call = ToolCall(id="call_abc123", name="get_weather", arguments='{"city": "Paris"}')
    request = target.request(
        user(f"Weather in Paris? {mark}"),
        ChatMessage(role="assistant", tool_calls=(call,)),
        ChatMessage(role="tool", tool_call_id="call_abc123", name="get_weather", content='{"temp": 21}'),
        tools=(WEATHER,),
    )

    result = await complete(target.adapter, request)

    assert result.text == "It is 21 degrees in Paris."
    messages = journal_body(mock, mark)["messages"]
    assistant = next(m for m in messages if m["role"] == "assistant")
    tool = next(m for m in messages if m["role"] == "tool")
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert assistant["tool_calls"][0]["id"] == "call_abc123"
    assert tool["tool_call_id"] == "call_abc123"
    if target.name.startswith("gemini"):
        # aimock turned a functionResponse part into this message.
        assert json.loads(tool["content"]) == {"output": {"temp": 21}}
    else:
        assert tool["content"] == '{"temp": 21}'


async def test_429_maps_to_retryable_error_with_retry_after(target: Target, mock: Aimock) -> None:
    mock.next_error(429, message=f"Rate limited for key {CANARY}", type_="rate_limit_error")

    with pytest.raises(ProviderCallError) as info:
        await collect(target.adapter, target.request(user(marker())))

    assert info.value.status == 429
    assert info.value.retryable
    assert info.value.retry_after == 1.0
    assert CANARY not in str(info.value)


async def test_500_maps_to_retryable_error(target: Target, mock: Aimock) -> None:
    mock.next_error(500, message=f"upstream broke at https://x.test/v1?key={CANARY}")

    with pytest.raises(ProviderCallError) as info:
        await collect(target.adapter, target.request(user(marker())))

    assert info.value.status == 500
    assert info.value.retryable
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value.args)


async def test_401_is_not_retryable(target: Target, mock: Aimock) -> None:
    mark = marker()
    mock.add(
        {
            "match": {"userMessage": mark},
            "response": {
                "error": {"message": f"Incorrect API key provided: {CANARY}", "type": "auth"},
                "status": 401,
            },
        }
    )

    with pytest.raises(ProviderCallError) as info:
        await collect(target.adapter, target.request(user(mark)))

    assert info.value.status == 401
    assert not info.value.retryable
    assert CANARY not in str(info.value)


async def test_mid_stream_disconnect_raises_instead_of_finishing(target: Target, mock: Aimock) -> None:
    mark = marker()
    # latency lets Node flush each chunk before the socket is destroyed.
    mock.add(
        {
            "match": {"userMessage": mark},
            "response": {"content": TEXT},
            "chunkSize": 4,
            "latency": 20,
            "truncateAfterChunks": 5,
        }
    )
    seen: list[ProviderEvent] = []

    with pytest.raises(ProviderCallError) as info:
        async for event in target.adapter.stream(target.request(user(mark))):
            seen.append(event)

    assert info.value.connection and not info.value.timeout
    assert info.value.retryable
    assert any(isinstance(e, TextDelta) for e in seen)
    assert not any(isinstance(e, FinishEvent) for e in seen)


async def test_disconnect_before_any_byte_is_a_connection_error(target: Target, mock: Aimock) -> None:
    mark = marker()
    # Without latency Node destroys the socket before the corked headers leave.
    mock.add({"match": {"userMessage": mark}, "response": {"content": TEXT}, "truncateAfterChunks": 1})

    with pytest.raises(ProviderCallError) as info:
        await collect(target.adapter, target.request(user(mark)))

    assert info.value.connection and not info.value.timeout


async def test_slow_upstream_maps_to_timeout(aimock_server: Service, mock: Aimock) -> None:
    mark = marker()
    mock.add({"match": {"userMessage": mark}, "response": {"content": TEXT}, "latency": 3000})
    for name, (make, model) in TARGETS.items():
        adapter = make(aimock_server.url, 0.5)
        try:
            with pytest.raises(ProviderCallError) as info:
                await collect(adapter, ProviderRequest(model=model, messages=(user(mark),)))
        finally:
            await adapter.aclose()
        assert info.value.timeout, name
        assert info.value.retryable, name


def test_gemini_request_shape() -> None:
    """The Gemini wire shape itself: model turns with function_call, tool results as function_response."""
    from common.providers.gemini import _contents, _decode_id, _encode_id

    signed = _encode_id("call_0", b"\x01sig")
    request = ProviderRequest(
        model="gemini-2.0-flash",
        system="Be brief.",
        messages=(
            user("Weather?"),
            ChatMessage(
                role="assistant",
                tool_calls=(
                    ToolCall(id=signed, name="get_weather", arguments='{"city": "Paris"}'),
                    ToolCall(id="call_1", name="get_time", arguments="{}"),
                ),
            ),
            ChatMessage(role="tool", tool_call_id=signed, content='{"temp": 21}'),
            ChatMessage(role="tool", tool_call_id="call_1", content="noon"),
        ),
    )

    contents, system = _contents(request)

    assert system == "Be brief."
    assert [c.role for c in contents] == ["user", "model", "user"]
    model_parts = contents[1].parts or []
    assert model_parts[0].function_call is not None
    assert model_parts[0].function_call.args == {"city": "Paris"}
    assert model_parts[0].function_call.id is None  # synthesized ids stay on our side
    assert model_parts[0].thought_signature == b"\x01sig"
    responses = [p.function_response for p in contents[2].parts or []]
    assert [r.name for r in responses if r] == ["get_weather", "get_time"]  # resolved from the call ids
    assert [r.response for r in responses if r] == [{"output": {"temp": 21}}, {"output": "noon"}]
    assert _decode_id("call_7") == (None, None)
    assert _decode_id("fc-upstream") == ("fc-upstream", None)
