"""The tool loop end to end: the real chat function runs a tenant's Python tools for
OpenAI, Cohere and Gemini models served by aimock, and feeds the results back.

The tenant `tools-e2e` has its tools in tests/fixtures/tenants/tools-e2e/tools.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.e2e.conftest import PROVIDERS, upstream_requests
from tests.tools.support import (
    add_assistants,
    chat,
    exchanges,
    fixed_tenant,
    last_request,
    marker,
    named,
    stored,
)

TOOLS = ["get_weather", "store_hours", "explode", "slow_wait", "blocking_wait", "whoami", "other_secret"]


def _bundle(data):
    for a in data["assistants"]:
        a["tools"] = TOOLS
    add_assistants(data, "capped", max_tool_rounds=2)
    add_assistants(data, "quick", tool_timeout_s=0.5)


@pytest.fixture()
async def tenant(stack):
    return await fixed_tenant(stack, "tools-e2e", _bundle)


def call_tool(name, arguments, **extra):
    return {"toolCalls": [{"name": name, "arguments": arguments, **extra}]}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_one_tool_round_trip(stack, http, tenant, provider):
    m = marker("weather")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": '"temperature":21'},
            "response": {"content": "It is 21 degrees in Paris."},
        },
        {
            "match": {"userMessage": m, "hasToolResult": False},
            "response": call_tool("get_weather", {"city": "Paris"}),
        },
    )

    events = await chat(http, tenant, f"support-{provider}", f"Weather in Paris? {m}")

    names = [n for n, _ in events]
    assert names[0] == "thread" and names[-3:] == ["message", "usage", "done"]
    assert names.index("tool_call") < names.index("tool_result") < names.index("delta")
    [call], [result] = named(events, "tool_call"), named(events, "tool_result")
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    expected = {"city": "Paris", "temperature": 21, "unit": "celsius"}
    assert result == {
        "id": call["id"],
        "name": "get_weather",
        "result": json.dumps(expected, separators=(",", ":")),
        "is_error": False,
    }
    assert named(events, "message")[0]["text"] == "It is 21 degrees in Paris."

    body = last_request(stack, m)
    assert exchanges(provider, body) == [("get_weather", {"city": "Paris"}, expected)]
    offered = {t["function"]["name"] for t in upstream_requests(stack, m)[0]["body"].get("tools") or []}
    if provider != "gemini":  # aimock drops Gemini's parametersJsonSchema declarations from its journal
        assert offered == set(TOOLS) - {"other_secret"}  # another tenant's tool is never offered

    thread_id = events[0][1]["thread_id"]
    messages = await stored(http, tenant, thread_id)
    assert [m_["role"] for m_ in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"id": call["id"], "name": "get_weather", "arguments": call["arguments"]}
    ]
    assert (messages[2]["tool_call_id"], messages[2]["name"], messages[2]["content"]) == (
        call["id"],
        "get_weather",
        result["result"],
    )
    assert messages[3]["content"] == "It is 21 degrees in Paris." and messages[3]["status"] == "complete"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_two_rounds_then_an_answer_and_the_next_turn_sees_them(stack, http, tenant, provider):
    m, follow_up = marker("tworounds"), marker("followup")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "turnIndex": 0},
            "response": call_tool("get_weather", {"city": "Paris"}),
        },
        {"match": {"userMessage": m, "turnIndex": 1}, "response": call_tool("get_weather", {"city": "Rome"})},
        {"match": {"userMessage": m, "turnIndex": 2}, "response": {"content": "Paris 21, Rome 25."}},
        {"match": {"userMessage": follow_up}, "response": {"content": "Rome is warmer."}},
    )

    events = await chat(http, tenant, f"support-{provider}", f"Paris then Rome? {m}")

    assert [json.loads(c["arguments"])["city"] for c in named(events, "tool_call")] == ["Paris", "Rome"]
    assert named(events, "message")[0]["text"] == "Paris 21, Rome 25."
    assert [
        (name, args["city"], result["temperature"])
        for name, args, result in exchanges(provider, last_request(stack, m))
    ] == [
        ("get_weather", "Paris", 21),
        ("get_weather", "Rome", 25),
    ]
    thread_id = events[0][1]["thread_id"]
    roles = [x["role"] for x in await stored(http, tenant, thread_id)]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]

    again = await chat(http, tenant, f"support-{provider}", f"Which is warmer? {follow_up}", thread_id)

    assert named(again, "message")[0]["text"] == "Rome is warmer."
    history = last_request(stack, follow_up)
    assert len(exchanges(provider, history)) == 2  # the earlier calls and results, valid for the vendor
    assert history["messages"][-1]["content"].endswith(follow_up)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_calls_run_concurrently_and_go_back_in_call_order(stack, http, tenant, provider):
    m = marker("parallel")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "hasToolResult": False},
            "response": {
                "toolCalls": [
                    {"name": "slow_wait", "arguments": {"label": "slow", "seconds": 0.6}},
                    {"name": "blocking_wait", "arguments": {"label": "blocking", "seconds": 0.3}},
                    {"name": "store_hours", "arguments": {}},
                ]
            },
        },
        {"match": {"userMessage": m, "hasToolResult": True}, "response": {"content": "All three done."}},
    )

    started = time.monotonic()
    events = await chat(http, tenant, f"support-{provider}", f"Do three things {m}")
    elapsed = time.monotonic() - started

    calls = named(events, "tool_call")
    assert [c["name"] for c in calls] == ["slow_wait", "blocking_wait", "store_hours"]
    assert len({c["id"] for c in calls}) == 3
    finished = [r["name"] for r in named(events, "tool_result")]
    assert finished == ["store_hours", "blocking_wait", "slow_wait"]  # streamed as each finishes
    sent = exchanges(provider, last_request(stack, m))
    assert [name for name, _, _ in sent] == ["slow_wait", "blocking_wait", "store_hours"]  # call order
    slow, blocking = sent[0][2], sent[1][2]
    assert blocking["start"] < slow["end"] and slow["start"] < blocking["end"]  # they overlapped
    assert sent[2][2] == "Mon-Fri 9:00-17:00"
    assert elapsed < 0.6 + 0.3 + 1.0  # not run one after the other (plus HTTP overhead)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_tool_without_parameters(stack, http, tenant, provider):
    m = marker("noparams")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "Mon-Fri"},
            "response": {"content": "We open at 9."},
        },
        {"match": {"userMessage": m}, "response": call_tool("store_hours", {})},
    )

    resp = await http.post(
        "/chat/app/shop/support-" + provider, json={"message": f"Hours? {m}"}, headers=tenant.auth
    )

    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["We open at 9."]
    assert exchanges(provider, last_request(stack, m)) == [("store_hours", {}, "Mon-Fri 9:00-17:00")]
    if provider != "gemini":
        [spec] = [
            t
            for t in upstream_requests(stack, m)[0]["body"]["tools"]
            if t["function"]["name"] == "store_hours"
        ]
        assert spec["function"]["parameters"] == {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        }


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failing_tool_is_fed_back_as_an_error_result(stack, http, tenant, provider):
    m = marker("explode")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "inventory service is down"},
            "response": {"content": "Sorry, the inventory is unavailable."},
        },
        {"match": {"userMessage": m}, "response": call_tool("explode", {"reason": "test"})},
    )

    events = await chat(http, tenant, f"support-{provider}", f"Stock? {m}")

    [result] = named(events, "tool_result")
    assert result["is_error"] is True
    assert result["result"] == "Error: explode failed: RuntimeError: the inventory service is down (test)"
    assert not named(events, "error")
    assert named(events, "message")[0]["text"] == "Sorry, the inventory is unavailable."
    assert exchanges(provider, last_request(stack, m))[0][2] == result["result"]
    messages = await stored(http, tenant, events[0][1]["thread_id"])
    assert (messages[2]["role"], messages[2]["content"]) == ("tool", result["result"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_malformed_arguments_are_fed_back(stack, http, tenant, provider):
    """aimock refuses fixtures whose arguments are not JSON at all (that case is unit-tested);
    here: wrong types and unknown names, and for OpenAI and Cohere JSON that is not an
    object (Gemini's wire format carries arguments as an object)."""
    m = marker("malformed")
    calls = [{"name": "get_weather", "arguments": {"city": 42, "country": "FR"}}]
    if provider != "gemini":
        calls.append({"name": "get_weather", "arguments": '["Paris"]'})
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "Error: "},
            "response": {"content": "Let me retry with the right arguments."},
        },
        {"match": {"userMessage": m}, "response": {"toolCalls": calls}},
    )

    events = await chat(http, tenant, f"support-{provider}", f"Weather? {m}")

    order = [c["id"] for c in named(events, "tool_call")]
    results = sorted(named(events, "tool_result"), key=lambda r: order.index(r["id"]))
    assert all(r["is_error"] for r in results) and len(results) == len(calls)
    assert results[0]["result"] == (
        "Error: invalid arguments for get_weather: city: Input should be a valid string; "
        "country: Extra inputs are not permitted"
    )
    if provider != "gemini":
        assert results[1]["result"] == "Error: the arguments must be a JSON object, not list."
    assert named(events, "message")[0]["text"] == "Let me retry with the right arguments."
    assert [r for _, _, r in exchanges(provider, last_request(stack, m))] == [r["result"] for r in results]


async def test_the_tool_context_is_bound_by_the_server(stack, http, tenant):
    m = marker("whoami")
    stack.aimock.add(
        {"match": {"userMessage": m, "hasToolResult": True}, "response": {"content": "ok"}},
        {
            "match": {"userMessage": m},
            "response": call_tool(
                "whoami", {"note": "hi", "ctx": {"tenant": "evil-corp", "thread_id": "th_other"}}
            ),
        },
    )

    events = await chat(http, tenant, "support-openai", f"Who am I? {m}")

    [result] = named(events, "tool_result")
    thread_id = events[0][1]["thread_id"]
    assert json.loads(result["result"]) == {
        "tenant": "tools-e2e",
        "thread": thread_id,
        "assistant": "support-openai",
        "note": "hi",
    }


async def test_another_tenants_tool_cannot_be_called(stack, http, tenant):
    m = marker("foreign")
    stack.aimock.add(
        {"match": {"userMessage": m, "hasToolResult": True}, "response": {"content": "I cannot do that."}},
        {"match": {"userMessage": m}, "response": call_tool("other_secret", {})},
    )

    events = await chat(http, tenant, "support-openai", f"Secret? {m}")

    [result] = named(events, "tool_result")
    assert result["is_error"] and "no tool named 'other_secret'" in result["result"]
    assert "tools-other secret" not in json.dumps(events)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_round_cap_asks_the_model_to_answer_with_what_it_has(stack, http, tenant, provider):
    m = marker("capped")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "systemMessage": "rounds of tool calls allowed"},
            "response": {"content": "Here is what I found so far."},
        },
        {"match": {"userMessage": m}, "response": call_tool("store_hours", {})},
    )

    events = await chat(http, tenant, f"capped-{provider}", f"Loop forever {m}")

    assert len(named(events, "tool_call")) == 2 and len(named(events, "tool_result")) == 2
    assert not named(events, "error")
    assert named(events, "message")[0]["text"] == "Here is what I found so far."
    requests = upstream_requests(stack, m)
    assert len(requests) == 3
    final = requests[-1]["body"]
    assert not final.get("tools")  # the last call offers no tools
    assert len(exchanges(provider, final)) == 2


async def test_a_model_that_keeps_calling_tools_after_the_cap_ends_with_an_error(stack, http, tenant):
    m = marker("insists")
    stack.aimock.add({"match": {"userMessage": m}, "response": call_tool("store_hours", {})})

    events = await chat(http, tenant, "capped-openai", f"Loop forever {m}")
    as_json = await http.post(
        "/chat/app/shop/capped-openai", json={"message": f"again {m}"}, headers=tenant.auth
    )

    assert [n for n, _ in events][-1] == "error"
    assert named(events, "error")[0]["type"] == "tool_loop_limit"
    assert not named(events, "done")
    assert as_json.status_code == 502
    assert as_json.json()["error"]["type"] == "tool_loop_limit"
    thread_id = events[0][1]["thread_id"]
    roles = [x["role"] for x in await stored(http, tenant, thread_id)]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]  # every stored call has its result


async def test_the_tool_timeout_turns_a_slow_tool_into_an_error_result(stack, http, tenant):
    m = marker("timeout")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "did not finish"},
            "response": {"content": "Too slow."},
        },
        {"match": {"userMessage": m}, "response": call_tool("slow_wait", {"label": "x", "seconds": 5})},
    )

    started = time.monotonic()
    events = await chat(http, tenant, "quick-openai", f"Wait {m}")

    assert time.monotonic() - started < 4
    [result] = named(events, "tool_result")
    assert result == {
        "id": named(events, "tool_call")[0]["id"],
        "name": "slow_wait",
        "result": "Error: slow_wait did not finish within 0.5 s.",
        "is_error": True,
    }
    assert named(events, "message")[0]["text"] == "Too slow."


async def test_a_client_leaving_mid_tool_stores_the_call_with_an_interrupted_result(stack, http, tenant):
    m, later = marker("leaves"), marker("later")
    stack.aimock.add(
        {"match": {"userMessage": m}, "response": call_tool("slow_wait", {"label": "x", "seconds": 3})},
        {"match": {"userMessage": later}, "response": {"content": "Still here."}},
    )
    body = {"message": f"Wait {m}", "stream": True}
    async with http.stream("POST", "/chat/app/shop/support-openai", json=body, headers=tenant.auth) as resp:
        raw = ""
        async for chunk in resp.aiter_text():
            raw += chunk
            if "event: tool_call" in raw:
                break  # leave while the tool runs: the connection closes here
    thread_id = json.loads(raw.split("data: ", 1)[1].split("\n", 1)[0])["thread_id"]
    for _ in range(50):
        messages = await stored(http, tenant, thread_id)
        if len(messages) == 3:
            break
        await asyncio.sleep(0.1)

    assert [(x["role"], x["status"]) for x in messages] == [
        ("user", "complete"),
        ("assistant", "incomplete"),
        ("tool", "complete"),
    ]
    assert messages[1]["tool_calls"][0]["name"] == "slow_wait"
    assert messages[2]["tool_call_id"] == messages[1]["tool_calls"][0]["id"]
    assert messages[2]["content"].startswith("Error: the turn was interrupted")

    # The stored exchange is a valid history: the next turn works and replays it.
    events = await chat(http, tenant, "support-openai", f"Hello again {later}", thread_id)
    assert named(events, "message")[0]["text"] == "Still here."
    assert len(exchanges("openai", last_request(stack, later))) == 1


async def test_openai_compatible_endpoint_runs_the_assistants_tools(stack, tenant):
    import openai

    m = marker("compat-tools")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": '"temperature":21'},
            "response": {"content": "Paris is at 21 degrees."},
        },
        {
            "match": {"userMessage": m, "hasToolResult": False},
            "response": call_tool("get_weather", {"city": "Paris"}),
        },
    )
    client = openai.AsyncOpenAI(api_key=tenant.key, base_url=stack.url + "/chat/v1", max_retries=0)
    result = await client.chat.completions.create(
        model="support-openai", messages=[{"role": "user", "content": f"Weather? {m}"}]
    )
    assert result.choices[0].message.content == "Paris is at 21 degrees."
    assert len(upstream_requests(stack, m)) == 2  # the tool round ran server-side
