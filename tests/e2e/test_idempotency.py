"""Idempotency-Key: replays answer from storage, never call the model twice."""

from __future__ import annotations

import asyncio
import uuid

from tests.e2e.conftest import make_tenant, upstream_requests


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _thread(http, tenant) -> str:
    return (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]


async def test_replay_returns_the_stored_reply_without_a_second_upstream_call(stack, http):
    tenant = await make_tenant(stack)
    text = marker("idem")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "exactly once"}})
    thread_id = await _thread(http, tenant)
    headers = {**tenant.auth, "Idempotency-Key": "order-42"}
    body = {"thread_id": thread_id, "message": text}
    first = await http.post("/chat", json=body, headers=headers)
    second = await http.post("/chat", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(upstream_requests(stack, text)) == 1
    messages = (await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


async def test_same_key_with_another_body_is_422(stack, http):
    tenant = await make_tenant(stack)
    text = marker("idem-body")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "ok"}})
    thread_id = await _thread(http, tenant)
    headers = {**tenant.auth, "Idempotency-Key": "k1"}
    assert (
        await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=headers)
    ).status_code == 200
    other = await http.post("/chat", json={"thread_id": thread_id, "message": text + "!"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["field"] == "Idempotency-Key"
    assert len(upstream_requests(stack, text)) == 1


async def test_replay_while_the_first_runs_is_409(stack, http):
    tenant = await make_tenant(stack)
    text = marker("idem-slow")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "slow " * 20}, "latency": 60})
    thread_id = await _thread(http, tenant)
    headers = {**tenant.auth, "Idempotency-Key": "slow-1"}
    body = {"thread_id": thread_id, "message": text}
    first = asyncio.create_task(http.post("/chat", json=body, headers=headers))
    await asyncio.sleep(0.3)
    second = await http.post("/chat", json=body, headers=headers)
    assert second.status_code == 409
    assert (await first).status_code == 200
    assert len(upstream_requests(stack, text)) == 1


async def test_streamed_reply_is_replayed_and_failures_release_the_key(stack, http):
    tenant = await make_tenant(stack)
    text = marker("idem-stream")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "streamed once"}})
    thread_id = await _thread(http, tenant)
    headers = {**tenant.auth, "Idempotency-Key": "s-1"}
    body = {"thread_id": thread_id, "message": text, "stream": True}
    first = await http.post("/chat", json=body, headers=headers)
    second = await http.post("/chat", json=body, headers=headers)
    assert second.text == first.text and "event: done" in second.text
    assert len(upstream_requests(stack, text)) == 1

    failing = marker("idem-fail")
    stack.aimock.add(
        {
            "match": {"userMessage": failing, "sequenceIndex": 0},
            "response": {"error": {"message": "x", "type": "server_error"}, "status": 500},
        },
        {
            "match": {"userMessage": failing, "sequenceIndex": 1},
            "response": {"error": {"message": "x", "type": "server_error"}, "status": 500},
        },
        {
            "match": {"userMessage": failing, "sequenceIndex": 2},
            "response": {"error": {"message": "x", "type": "server_error"}, "status": 500},
        },
        {"match": {"userMessage": failing}, "response": {"content": "recovered"}},
    )
    retry_headers = {**tenant.auth, "Idempotency-Key": "f-1"}
    bad = await http.post("/chat", json={"thread_id": thread_id, "message": failing}, headers=retry_headers)
    assert bad.status_code == 502
    good = await http.post("/chat", json={"thread_id": thread_id, "message": failing}, headers=retry_headers)
    assert good.status_code == 200 and good.json()["responses"] == ["recovered"]


async def test_openai_compatible_endpoint_honours_the_key(stack, http):
    tenant = await make_tenant(stack)
    text = marker("idem-compat")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "compat once"}})
    body = {"model": "support-openai", "messages": [{"role": "user", "content": text}]}
    headers = {**tenant.auth, "Idempotency-Key": "c-1"}
    first = await http.post("/chat/v1/chat/completions", json=body, headers=headers)
    second = await http.post("/chat/v1/chat/completions", json=body, headers=headers)
    assert first.status_code == 200 and second.json() == first.json()
    assert len(upstream_requests(stack, text)) == 1
