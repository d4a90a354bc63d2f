"""start + chat over HTTP, for each provider, against aimock and the emulators."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.e2e.conftest import PROVIDERS, UPSTREAM_MODEL, make_tenant, parse_sse, upstream_requests


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_start_chat_twice_and_history_reaches_the_model(stack, http, provider):
    tenant = await make_tenant(stack)
    first, second = marker("first"), marker("second")
    stack.aimock.add(
        {"match": {"userMessage": first}, "response": {"content": f"Reply one for {provider}."}},
        {"match": {"userMessage": second}, "response": {"content": f"Reply two for {provider}."}},
    )

    started = await http.post("/start", json={"assistant": f"support-{provider}"}, headers=tenant.auth)
    assert started.status_code == 201, started.text
    thread_id = started.json()["thread_id"]
    assert started.json()["assistant"] == f"support-{provider}"

    r1 = await http.post("/chat", json={"thread_id": thread_id, "message": first}, headers=tenant.auth)
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert body["responses"] == [f"Reply one for {provider}."]
    assert body["thread_id"] == thread_id and body["message_id"]
    assert body["provider"] == provider and body["model"] == UPSTREAM_MODEL[provider]
    assert set(body["usage"]) == {"input_tokens", "output_tokens"}
    if provider == "openai":  # aimock reports real counts only in the OpenAI format
        assert body["usage"]["output_tokens"] > 0

    r2 = await http.post("/chat", json={"thread_id": thread_id, "message": second}, headers=tenant.auth)
    assert r2.status_code == 200, r2.text
    assert r2.json()["responses"] == [f"Reply two for {provider}."]

    # The second upstream request carries the first turn and the system prompt.
    sent = json.dumps(upstream_requests(stack, second)[-1]["body"])
    assert first in sent and f"Reply one for {provider}." in sent
    assert f"helpful support agent ({provider})" in sent

    history = await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)
    assert history.status_code == 200
    roles = [(m["role"], m["content"]) for m in history.json()["messages"]]
    assert roles == [
        ("user", first),
        ("assistant", f"Reply one for {provider}."),
        ("user", second),
        ("assistant", f"Reply two for {provider}."),
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streamed_chat_sends_deltas_as_they_are_produced(stack, http, provider):
    tenant = await make_tenant(stack)
    text = marker("stream")
    reply = "Streaming is flushed chunk by chunk so the user sees words early."
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": reply}, "latency": 40})
    thread_id = (
        await http.post("/start", json={"assistant": f"support-{provider}"}, headers=tenant.auth)
    ).json()["thread_id"]

    arrivals: list[float] = []
    raw = ""
    async with http.stream(
        "POST", "/chat", json={"thread_id": thread_id, "message": text, "stream": True}, headers=tenant.auth
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in resp.headers
        async for chunk in resp.aiter_text():
            if "event: delta" in chunk:
                arrivals.append(time.monotonic())
            raw += chunk

    events = parse_sse(raw)
    names = [n for n, _ in events]
    assert names[0] == "thread" and names[-3:] == ["message", "usage", "done"]
    deltas = [d["text"] for n, d in events if n == "delta"]
    assert len(deltas) >= 3 and "".join(deltas) == reply
    assert len(arrivals) >= 2 and arrivals[-1] - arrivals[0] > 0.05, "deltas were buffered, not streamed"
    message = dict(events)["message"]
    assert message["text"] == reply
    assert dict(events)["done"]["message_id"] == message["message_id"]


async def test_accept_header_selects_sse_and_app_route_creates_thread(stack, http):
    tenant = await make_tenant(stack)
    text = marker("accept")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "via app route"}})
    resp = await http.post(
        "/chat/app/shop/support-openai",
        json={"message": text},
        headers={**tenant.auth, "Accept": "text/event-stream"},
    )
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    thread_id = events[0][1]["thread_id"]
    assert dict(events)["message"]["text"] == "via app route"
    again = await http.post(
        "/chat/app/shop/support-openai", json={"message": text, "thread_id": thread_id}, headers=tenant.auth
    )
    assert again.status_code == 200 and again.json()["thread_id"] == thread_id


async def test_get_start_uses_the_apps_default_assistant(stack, http):
    tenant = await make_tenant(stack)
    resp = await http.get("/start", headers=tenant.auth)
    assert resp.status_code == 201
    assert resp.json()["assistant"] == "support-openai"


async def test_unprefixed_paths_work_as_on_a_deployed_function_url(stack, http):
    """Deployed, the function URL replaces the prefix: `/chat/threads/..` is `/threads/..`."""
    from common.http.routing import Router

    router = Router("chat")
    assert router.local_path("/chat/threads/x/messages") == "/threads/x/messages"
    assert router.local_path("/threads/x/messages") == "/threads/x/messages"
    assert router.local_path("/chat") == "/"


async def test_logs_are_structured_json_without_message_bodies(stack, http):
    tenant = await make_tenant(stack)
    text = marker("private-words")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "secret reply words"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 200
    request_id = resp.headers["X-Request-Id"]
    for _ in range(20):  # log lines are written just after the response
        raw = stack.functions.log_path.read_text().splitlines()
        lines = [json.loads(x) for x in raw if x.startswith("{")]
        mine = [entry for entry in lines if entry.get("request_id") == request_id]
        if len(mine) >= 2:
            break
        await asyncio.sleep(0.1)
    assert {e["message"] for e in mine} >= {"chat turn", "POST /chat 200"}
    turn = next(e for e in mine if e["message"] == "chat turn")
    assert turn["severity"] == "INFO" and turn["tenant"] == tenant.id and turn["output_tokens"] > 0
    log_text = stack.functions.log_path.read_text()
    assert text not in log_text and "secret reply words" not in log_text
