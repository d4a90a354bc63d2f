"""Issue #9 item 9: `TURN_DEADLINE_S` bounds a whole turn, so a turn never outlives the
function: at the deadline the partial reply is stored as `incomplete` and the caller
gets an `error` of type `timeout` (504 for JSON) instead of a stream cut with nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.e2e.conftest import make_tenant, parse_sse
from tests.support.services import Service, start_functions
from tests.tools.hookserver import HookServer, Reply

DEADLINE_S = 10.0  # generous: the deadline counts from the request, and the machine is shared
SLOW_REPLY = "word " * 400


@pytest.fixture(scope="module")
def short_deadline(stack) -> Iterator[Service]:
    functions = start_functions({**stack.env, "TURN_DEADLINE_S": str(DEADLINE_S)})
    yield functions
    functions.stop()


@pytest.fixture()
async def client(short_deadline: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=short_deadline.url, timeout=60) as c:
        yield c


def slow(stack, label: str) -> str:
    text = f"{label}-{uuid.uuid4().hex[:10]}"
    # ~400 chunks 150 ms apart: the upstream alone would take ~60 s.
    fixture = {
        "match": {"userMessage": text},
        "response": {"content": SLOW_REPLY},
        "latency": 100,
        "chunkSize": 5,
    }
    stack.aimock.add(fixture)
    return text


async def _stored(client, tenant, thread_id):
    resp = await client.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)
    return resp.json()["messages"]


async def test_a_json_turn_past_the_deadline_is_504_with_the_partial_reply_stored(stack, client):
    tenant = await make_tenant(stack)
    thread_id = (await client.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    started = time.monotonic()
    resp = await client.post(
        "/chat", json={"thread_id": thread_id, "message": slow(stack, "deadline")}, headers=tenant.auth
    )
    elapsed = time.monotonic() - started
    assert resp.status_code == 504, resp.text
    assert resp.json()["error"]["type"] == "timeout"
    assert elapsed < 40  # bounded by the deadline, not by the upstream (~60 s)
    stored = await _stored(client, tenant, thread_id)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["status"] == "incomplete"
    assert stored[1]["content"] and SLOW_REPLY.startswith(stored[1]["content"])
    assert stored[1]["content"] != SLOW_REPLY


async def test_a_stream_past_the_deadline_ends_with_a_timeout_error_and_no_done(stack, client):
    tenant = await make_tenant(stack)
    resp = await client.post(
        "/chat/app/shop/support-openai",
        json={"message": slow(stack, "deadline-sse"), "stream": True},
        headers=tenant.auth,
    )
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    names = [name for name, _ in events]
    assert "delta" in names and "done" not in names
    assert events[-1][0] == "error" and events[-1][1]["type"] == "timeout"
    thread_id = events[0][1]["thread_id"]
    stored = await _stored(client, tenant, thread_id)
    assert stored[-1]["role"] == "assistant" and stored[-1]["status"] == "incomplete"


async def test_the_openai_compatible_endpoint_has_the_same_deadline(stack, client):
    tenant = await make_tenant(stack)
    body = {"model": "support-openai", "messages": [{"role": "user", "content": slow(stack, "deadline-v1")}]}
    resp = await client.post("/chat/v1/chat/completions", json=body, headers=tenant.auth)
    assert resp.status_code == 504 and resp.json()["error"]["code"] == "timeout"  # OpenAI's shape
    streamed = await client.post(
        "/chat/v1/chat/completions", json={**body, "stream": True}, headers=tenant.auth
    )
    assert '"code":"timeout"' in streamed.text.replace(" ", "")
    assert "[DONE]" not in streamed.text


async def test_a_turn_within_the_deadline_is_untouched(stack, client):
    tenant = await make_tenant(stack)
    text = f"quick-{uuid.uuid4().hex[:10]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "in time"}})
    resp = await client.post("/chat/app/shop/support-openai", json={"message": text}, headers=tenant.auth)
    assert resp.status_code == 200 and resp.json()["responses"] == ["in time"]


async def test_tool_rounds_share_the_one_deadline(stack, client):
    """A model that keeps calling a slow tool: the rounds together stop at the deadline."""
    hook = await HookServer().start()
    try:
        path = hook.route("/slow", Reply(200, {"status": "still looking"}, delay=4))
        tool = {
            "id": "lookup",
            "name": "lookup",
            "url": hook.url(path),
            "timeout_s": 30,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }

        def mutate(data):
            data["tools"] = [tool]
            for a in data["assistants"]:
                a["tools"], a["tool_timeout_s"] = ["lookup"], 30

        tenant = await make_tenant(stack, mutate=mutate)
        m = f"rounds-{uuid.uuid4().hex[:10]}"
        stack.aimock.add(
            {
                "match": {"userMessage": m},
                "response": {"toolCalls": [{"name": "lookup", "arguments": {"q": "x"}}]},
            }
        )
        thread_id = (await client.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
        started = time.monotonic()
        resp = await client.post("/chat", json={"thread_id": thread_id, "message": m}, headers=tenant.auth)
        assert resp.status_code == 504 and resp.json()["error"]["type"] == "timeout", resp.text
        assert time.monotonic() - started < 40  # 8 rounds of 4 s each would be 32 s and more
        stored = await _stored(client, tenant, thread_id)
        rounds = [s for s in stored if s["role"] == "assistant"]
        assert 1 <= len(rounds) < 8  # cut by the deadline, not by the round cap
        assert stored[-1]["role"] == "tool"  # every stored call has its result (or "interrupted")
    finally:
        await hook.stop()
