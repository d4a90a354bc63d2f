"""The official `openai` Python SDK against `/chat/v1`, on OpenAI, Cohere and Gemini
assistants (aimock behind a recording proxy shows what reached each provider)."""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.compat.conftest import Compat, marker, text_reply, tool_calls_reply
from tests.e2e.conftest import PROVIDERS

PRICE_TOOL = {
    "type": "function",
    "function": {
        "name": "get_price",
        "description": "The price of a product.",
        "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
    },
}


def sync_client(compat: Compat, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=compat.key, base_url=compat.base_url, max_retries=0, **kw)


def async_client(compat: Compat, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=compat.key, base_url=compat.base_url, max_retries=0, **kw)


def offered_tools(provider: str, body: dict[str, Any]) -> set[str]:
    if provider == "gemini":
        return {d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])}
    return {t["function"]["name"] for t in body.get("tools", [])}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sync_client_plain_reply(compat: Compat, provider: str) -> None:
    m = marker("sync")
    compat.add(text_reply(m, "plain reply"))
    with sync_client(compat) as client:
        result = client.chat.completions.create(
            model=f"support-{provider}", messages=[{"role": "user", "content": m}]
        )
    assert result.choices[0].message.content == "plain reply"
    assert result.choices[0].finish_reason == "stop" and result.created > 0
    assert "system_fingerprint" in result.model_dump() and result.object == "chat.completion"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_async_streaming_with_usage(compat: Compat, provider: str) -> None:
    m = marker("stream")
    compat.add(text_reply(m, "streamed in a few chunks of text"))
    stream = await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": m}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(parts) == "streamed in a few chunks of text" and finish == "stop"
    assert usage is not None


class Order(BaseModel):
    order_id: str
    status: str


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parse_with_a_pydantic_model(compat: Compat, provider: str) -> None:
    m = marker("parse")
    compat.add(text_reply(m, json.dumps({"order_id": "A-1001", "status": "shipped"})))
    result = await async_client(compat).chat.completions.parse(
        model=f"support-{provider}", messages=[{"role": "user", "content": m}], response_format=Order
    )
    assert result.choices[0].message.parsed == Order(order_id="A-1001", status="shipped")
    body = compat.last(m)
    if provider == "openai":
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True
        assert body["response_format"]["json_schema"]["schema"]["required"] == ["order_id", "status"]
    elif provider == "cohere":
        assert body["response_format"]["type"] == "json_object"
        assert body["response_format"]["json_schema"]["required"] == ["order_id", "status"]
    else:
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["required"] == ["order_id", "status"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_json_object_mode(compat: Compat, provider: str) -> None:
    m = marker("jsonobj")
    compat.add(text_reply(m, '{"ok": true}'))
    result = await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": f"Answer in JSON. {m}"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(result.choices[0].message.content or "") == {"ok": True}
    body = compat.last(m)
    if provider == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert "responseJsonSchema" not in body["generationConfig"]
    else:
        assert body["response_format"] == {"type": "json_object"}


def _tool_round_trip_fixtures(compat: Compat, m: str) -> None:
    compat.add(
        tool_calls_reply(m, ("get_price", {"sku": "A"}), ("get_price", {"sku": "B"})),
        {
            "match": {"userMessage": m, "hasToolResult": True},
            "response": {"content": "A costs 3 and B costs 4."},
        },
    )


def _tool_results_upstream(provider: str, body: dict[str, Any]) -> list[Any]:
    if provider == "gemini":
        return [
            (p["functionResponse"]["name"], p["functionResponse"]["response"])
            for c in body["contents"]
            for p in c["parts"]
            if "functionResponse" in p
        ]
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tools_round_trip_with_parallel_calls(compat: Compat, provider: str) -> None:
    m = marker("tools")
    _tool_round_trip_fixtures(compat, m)
    client = async_client(compat)
    messages: list[Any] = [{"role": "user", "content": f"Prices of A and B? {m}"}]
    first = await client.chat.completions.create(
        model=f"support-{provider}", messages=messages, tools=[PRICE_TOOL], tool_choice="auto"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_price", {"sku": "A"}),
        ("get_price", {"sku": "B"}),
    ]
    assert len({c.id for c in calls}) == 2
    assert offered_tools(provider, compat.last(m)) == {"get_price"}

    messages.append(choice.message)
    messages += [
        {"role": "tool", "tool_call_id": c.id, "content": json.dumps({"price": 3 + i})}
        for i, c in enumerate(calls)
    ]
    second = await client.chat.completions.create(
        model=f"support-{provider}", messages=messages, tools=[PRICE_TOOL]
    )
    assert second.choices[0].message.content == "A costs 3 and B costs 4."
    assert second.choices[0].finish_reason == "stop"
    results = _tool_results_upstream(provider, compat.last(m))
    if provider == "gemini":
        assert results == [("get_price", {"output": {"price": 3}}), ("get_price", {"output": {"price": 4}})]
    else:
        assert results == ['{"price": 3}', '{"price": 4}']


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streamed_tool_calls(compat: Compat, provider: str) -> None:
    m = marker("streamtools")
    _tool_round_trip_fixtures(compat, m)
    client = async_client(compat)
    async with client.chat.completions.stream(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": f"Prices? {m}"}],
        tools=[PRICE_TOOL],
    ) as stream:
        final = await stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    args = [json.loads(c.function.arguments) for c in choice.message.tool_calls or []]
    assert args == [{"sku": "A"}, {"sku": "B"}]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("choice", ["none", "required", "named"])
async def test_tool_choice_reaches_each_provider(compat: Compat, provider: str, choice: str) -> None:
    m = marker("choice")
    compat.add(tool_calls_reply(m, ("get_price", {"sku": "A"})))
    other = {**PRICE_TOOL, "function": {**PRICE_TOOL["function"], "name": "get_stock"}}
    tool_choice: Any = (
        {"type": "function", "function": {"name": "get_price"}} if choice == "named" else choice
    )
    await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": m}],
        tools=[PRICE_TOOL, other],
        tool_choice=tool_choice,
    )
    body = compat.last(m)
    if provider == "openai":
        assert body["tool_choice"] == tool_choice
    elif provider == "cohere":
        assert body["tool_choice"] == {"none": "NONE", "required": "REQUIRED", "named": "REQUIRED"}[choice]
        # Cohere has no named choice: the named function is offered alone, and required.
        expected = {"get_price"} if choice == "named" else {"get_price", "get_stock"}
        assert offered_tools(provider, body) == expected
    else:
        config = body["toolConfig"]["functionCallingConfig"]
        assert config["mode"] == {"none": "NONE", "required": "ANY", "named": "ANY"}[choice]
        assert config.get("allowedFunctionNames") == (["get_price"] if choice == "named" else None)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_server_tools_run_and_client_tools_are_returned(compat: Compat, provider: str) -> None:
    """`tooled-*` assistants have the server-side `lookup_stock`: the service runs it, then
    returns the client's `get_price` call to the caller."""
    m = marker("mixed")
    compat.add(
        {
            "match": {"userMessage": m, "hasToolResult": False},
            "response": {"toolCalls": [{"name": "lookup_stock", "arguments": '{"sku": "A"}'}]},
        },
        {
            "match": {"userMessage": m, "toolResultContains": "in_stock"},
            "response": {"toolCalls": [{"name": "get_price", "arguments": '{"sku": "A"}'}]},
        },
    )
    result = await async_client(compat).chat.completions.create(
        model=f"tooled-{provider}", messages=[{"role": "user", "content": m}], tools=[PRICE_TOOL]
    )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls or []] == ["get_price"]
    first, second = compat.sent(m)[-2:]
    assert offered_tools(provider, first) == {"lookup_stock", "get_price"}
    assert "in_stock" in json.dumps(second)  # the server tool's result went back to the model


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_length_finish_is_reported(compat: Compat, provider: str) -> None:
    m = marker("length")
    compat.add(
        {"match": {"userMessage": m}, "response": {"content": "cut off mid", "finishReason": "length"}}
    )
    client = async_client(compat)
    result = await client.chat.completions.create(
        model=f"support-{provider}", messages=[{"role": "user", "content": m}], max_completion_tokens=5
    )
    assert result.choices[0].finish_reason == "length"
    stream = await client.chat.completions.create(
        model=f"support-{provider}", messages=[{"role": "user", "content": m}], stream=True
    )
    reasons = [c.choices[0].finish_reason async for c in stream if c.choices]
    assert reasons[-1] == "length"


PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001")).decode()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_images_reach_each_providers_multimodal_api(compat: Compat, provider: str) -> None:
    m = marker("image")
    compat.add(text_reply(m, "a cat"))
    https_url = "https://images.example.com/cat.png"
    data_url = f"data:image/png;base64,{PNG}"
    result = await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"What is this? {m}"},
                    {"type": "image_url", "image_url": {"url": https_url}},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            }
        ],
    )
    assert result.choices[0].message.content == "a cat"
    body = compat.last(m)
    if provider == "gemini":
        # google-genai writes some nested fields in proto's snake_case, which the API accepts too.
        parts = json.loads(
            json.dumps(body["contents"][-1]["parts"]).replace("_uri", "Uri").replace("_type", "Type")
        )
        assert parts[1]["fileData"] == {"fileUri": https_url, "mimeType": "image/png"}
        assert parts[2]["inlineData"] == {"mimeType": "image/png", "data": PNG}
    else:
        parts = body["messages"][-1]["content"]
        assert [p["image_url"]["url"] for p in parts if p["type"] == "image_url"] == [https_url, data_url]


async def test_images_to_a_text_only_model_are_refused(compat: Compat) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await async_client(compat).chat.completions.create(
            model="text-only",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}},
                    ],
                }
            ],
        )
    assert exc.value.param == "messages" and "images" in exc.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_sampling_parameters_are_forwarded(compat: Compat, provider: str) -> None:
    m = marker("params")
    compat.add(text_reply(m, "ok"))
    await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": m}],
        stop=["backpack"],
        seed=7,
        top_p=0.5,
        presence_penalty=0.25,
        frequency_penalty=0.5,
        max_completion_tokens=40,
        temperature=0.3,
    )
    body = compat.last(m)
    if provider == "openai":
        got = {k: body[k] for k in ("stop", "seed", "top_p", "presence_penalty", "frequency_penalty")}
        assert got == {
            "stop": ["backpack"],
            "seed": 7,
            "top_p": 0.5,
            "presence_penalty": 0.25,
            "frequency_penalty": 0.5,
        }
        assert body["max_completion_tokens"] == 40
    elif provider == "cohere":
        got = {k: body[k] for k in ("stop_sequences", "seed", "p", "presence_penalty", "frequency_penalty")}
        assert got == {
            "stop_sequences": ["backpack"],
            "seed": 7,
            "p": 0.5,
            "presence_penalty": 0.25,
            "frequency_penalty": 0.5,
        }
        assert body["max_tokens"] == 40
    else:
        config = body["generationConfig"]
        keys = ("stopSequences", "seed", "topP", "presencePenalty", "frequencyPenalty", "maxOutputTokens")
        assert {k: config[k] for k in keys} == {
            "stopSequences": ["backpack"],
            "seed": 7,
            "topP": 0.5,
            "presencePenalty": 0.25,
            "frequencyPenalty": 0.5,
            "maxOutputTokens": 40,
        }


@pytest.mark.parametrize(
    ("assistant", "kwargs", "param"),
    [
        ("support-openai", {"n": 2}, "n"),
        ("support-gemini", {"logprobs": True}, "logprobs"),
        ("support-openai", {"top_logprobs": 2}, "top_logprobs"),
        ("support-cohere", {"user": "end-user-1"}, "user"),
        ("support-gemini", {"user": "end-user-1"}, "user"),
        ("support-openai", {"store": True}, "store"),
        ("support-openai", {"extra_body": {"logit_bias": {"50256": -100}}}, "logit_bias"),
        ("support-openai", {"extra_body": {"functions": [{"name": "f"}]}}, "functions"),
    ],
)
async def test_unsupported_parameters_are_400_naming_them(
    compat: Compat, assistant: str, kwargs: dict[str, Any], param: str
) -> None:
    m = marker("refused")
    with pytest.raises(openai.BadRequestError) as exc:
        await async_client(compat).chat.completions.create(
            model=assistant, messages=[{"role": "user", "content": m}], **kwargs
        )
    assert exc.value.param == param and exc.value.status_code == 400
    assert compat.sent(m) == []  # refused before anything went upstream


async def test_user_is_forwarded_to_openai(compat: Compat) -> None:
    m = marker("user")
    compat.add(text_reply(m, "ok"))
    await async_client(compat).chat.completions.create(
        model="support-openai", messages=[{"role": "user", "content": m}], user="end-user-1"
    )
    assert compat.last(m)["user"] == "end-user-1"


async def test_openai_error_shapes(compat: Compat) -> None:
    client = async_client(compat)
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    assert missing.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as invalid:
        await client.chat.completions.create(
            model="support-openai", messages=[{"role": "user", "content": "hi"}], temperature=5
        )
    assert invalid.value.param == "temperature" and invalid.value.type == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError) as denied:
        await openai.AsyncOpenAI(api_key="ak_wrong", base_url=compat.base_url, max_retries=0).models.list()
    assert denied.value.code == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.chat.completions.create(
            model="text-only", messages=[{"role": "user", "content": "word " * 6000}]
        )
    assert too_long.value.code == "context_length_exceeded"


async def test_upstream_failure_is_not_retried_again_by_the_sdk(compat: Compat) -> None:
    """The service already retried (3 attempts): `x-should-retry: false` stops the SDK's own."""
    m = marker("fail")
    compat.add(
        {
            "match": {"userMessage": m},
            "response": {"error": {"message": "boom", "type": "server_error"}, "status": 500},
        }
    )
    client = openai.AsyncOpenAI(api_key=compat.key, base_url=compat.base_url, max_retries=2)
    with pytest.raises(openai.InternalServerError) as exc:
        await client.chat.completions.create(
            model="support-openai", messages=[{"role": "user", "content": m}]
        )
    assert exc.value.status_code == 502
    assert exc.value.response.headers["x-should-retry"] == "false"
    assert len(compat.sent(m)) == 3  # the service's attempts only, none repeated by the SDK


async def test_models_retrieve_and_list(compat: Compat) -> None:
    client = async_client(compat)
    model = await client.models.retrieve("support-gemini")
    assert model.id == "support-gemini" and model.created > 1_600_000_000
    listed = await client.models.list()
    assert all(m.created > 1_600_000_000 for m in listed.data)
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_tool_calls_false_returns_one_call(compat: Compat, provider: str) -> None:
    m = marker("oneCall")
    compat.add(tool_calls_reply(m, ("get_price", {"sku": "A"}), ("get_price", {"sku": "B"})))
    result = await async_client(compat).chat.completions.create(
        model=f"support-{provider}",
        messages=[{"role": "user", "content": m}],
        tools=[PRICE_TOOL],
        parallel_tool_calls=False,
    )
    calls = result.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [{"sku": "A"}]
    if provider == "openai":
        assert compat.last(m)["parallel_tool_calls"] is False


async def test_a_tool_result_without_its_call_is_400(compat: Compat) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await async_client(compat).chat.completions.create(
            model="support-openai",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_unknown", "content": "42"},
            ],
        )
    assert exc.value.param == "messages"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_static_aimock_fixtures(compat: Compat, provider: str) -> None:
    """tests/fixtures/aimock/compat.json: a tool round trip, a JSON reply and a `length` finish."""
    model = f"support-{provider}"
    with sync_client(compat) as client:
        ask: list[Any] = [{"role": "user", "content": "compat-fixture: weather tool"}]
        first = client.chat.completions.create(model=model, messages=ask, tools=[WEATHER_TOOL])
        [call] = first.choices[0].message.tool_calls or []
        follow = [
            *ask,
            first.choices[0].message,
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ]
        second = client.chat.completions.create(model=model, messages=follow, tools=[WEATHER_TOOL])
        assert second.choices[0].message.content == "It is sunny in Paris."
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "compat-fixture: json reply"}],
            response_format={"type": "json_object"},
        )
        assert json.loads(reply.choices[0].message.content or "") == {"city": "Paris", "temperature": 21}
        cut = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "compat-fixture: length finish"}]
        )
        assert cut.choices[0].finish_reason == "length"


@pytest.mark.parametrize("provider", ["openai", "gemini"])  # Cohere has no content-filter finish
async def test_content_filter_finish(compat: Compat, provider: str) -> None:
    m = marker("filtered")
    compat.add(
        {"match": {"userMessage": m}, "response": {"content": "withheld", "finishReason": "content_filter"}}
    )
    result = await async_client(compat).chat.completions.create(
        model=f"support-{provider}", messages=[{"role": "user", "content": m}]
    )
    assert result.choices[0].finish_reason == "content_filter"


async def test_logprobs_are_forwarded_to_openai(compat: Compat) -> None:
    """aimock answers `logprobs: null`, so this shows the request and the reply's shape."""
    m = marker("logprobs")
    compat.add(text_reply(m, "ok"))
    client = async_client(compat)
    result = await client.chat.completions.create(
        model="support-openai", messages=[{"role": "user", "content": m}], logprobs=True, top_logprobs=2
    )
    body = compat.last(m)
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert result.choices[0].logprobs is not None and result.choices[0].logprobs.content == []
    stream = await client.chat.completions.create(
        model="support-openai", messages=[{"role": "user", "content": m}], logprobs=True, stream=True
    )
    texts = [c.choices[0] async for c in stream if c.choices and c.choices[0].delta.content]
    assert texts and all(c.logprobs is not None for c in texts)


async def test_rate_limited_is_429_with_retry_after(stack) -> None:  # type: ignore[no-untyped-def]
    from tests.e2e.conftest import make_tenant

    def one_per_minute(data: dict[str, Any]) -> None:
        data["apps"][0]["rate_limit_per_minute"] = 1

    tenant = await make_tenant(stack, mutate=one_per_minute)
    m = marker("limited")
    stack.aimock.add(text_reply(m, "ok"))
    client = openai.AsyncOpenAI(api_key=tenant.key, base_url=stack.url + "/chat/v1", max_retries=0)
    messages: Any = [{"role": "user", "content": m}]
    await client.chat.completions.create(model="support-openai", messages=messages)
    with pytest.raises(openai.RateLimitError) as exc:
        await client.chat.completions.create(model="support-openai", messages=messages)
    assert exc.value.code == "rate_limit_exceeded"
    assert int(exc.value.response.headers["retry-after"]) >= 1
