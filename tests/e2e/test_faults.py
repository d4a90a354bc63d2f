"""Upstream faults injected by aimock: retries, 502s, fallbacks, cut-off streams."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import make_tenant, parse_sse, upstream_requests


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _thread(http, tenant, assistant="support-openai") -> str:
    return (await http.post("/start", json={"assistant": assistant}, headers=tenant.auth)).json()["thread_id"]


async def _messages(http, tenant, thread_id):
    return (await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)).json()["messages"]


async def test_429_with_retry_after_is_retried_once_and_answers(stack, http):
    tenant = await make_tenant(stack)
    text = marker("ratelimited")
    stack.aimock.add(
        {
            "match": {"userMessage": text, "sequenceIndex": 0},
            "response": {"error": {"message": "slow down", "type": "rate_limit_error"}, "status": 429},
        },
        {"match": {"userMessage": text, "sequenceIndex": 1}, "response": {"content": "after the retry"}},
    )
    thread_id = await _thread(http, tenant)
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["after the retry"]
    calls = upstream_requests(stack, text)
    assert [c["response"]["status"] for c in calls] == [429, 200]
    replies = [m for m in await _messages(http, tenant, thread_id) if m["role"] == "assistant"]
    assert len(replies) == 1


async def test_persistent_500_is_502_and_keeps_the_user_message(stack, http):
    tenant = await make_tenant(stack)
    text = marker("broken")
    stack.aimock.add(
        {
            "match": {"userMessage": text},
            "response": {"error": {"message": "boom", "type": "server_error"}, "status": 500},
        }
    )
    thread_id = await _thread(http, tenant)
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 502, resp.text
    err = resp.json()["error"]
    assert err["type"] == "upstream_error" and err["request_id"]
    assert "secretvalue" not in resp.text
    assert len(upstream_requests(stack, text)) == 3  # three attempts, then give up
    assert [(m["role"], m["content"]) for m in await _messages(http, tenant, thread_id)] == [("user", text)]


async def test_fallback_model_answers_when_the_primary_fails(stack, http):
    def with_fallback(data):
        data["assistants"][0]["fallback_model_ids"] = ["m-cohere"]  # support-openai falls back to cohere

    tenant = await make_tenant(stack, mutate=with_fallback)
    text = marker("fallback")
    stack.aimock.add(
        {
            "match": {"userMessage": text, "model": "gpt-4o"},
            "response": {"error": {"message": "down", "type": "server_error"}, "status": 503},
        },
        {"match": {"userMessage": text}, "response": {"content": "served by the fallback"}},
    )
    thread_id = await _thread(http, tenant)
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["responses"] == ["served by the fallback"]
    assert body["provider"] == "cohere" and body["model"] == "command-r-plus"
    paths = [c["path"] for c in upstream_requests(stack, text)]
    assert paths[-1].startswith("/v2/chat") and all("chat/completions" in p for p in paths[:-1])


async def test_stream_cut_mid_way_ends_with_error_and_stores_incomplete(stack, http):
    tenant = await make_tenant(stack)
    text = marker("cut")
    long_reply = "This reply is long enough to be cut off after a few chunks of streamed text arrive. " * 3
    stack.aimock.add(
        {
            "match": {"userMessage": text},
            "response": {"content": long_reply},
            "truncateAfterChunks": 4,
            "latency": 20,
        }
    )
    thread_id = await _thread(http, tenant)
    resp = await http.post(
        "/chat", json={"thread_id": thread_id, "message": text, "stream": True}, headers=tenant.auth
    )
    assert resp.status_code == 200
    events = parse_sse(resp.text)
    names = [n for n, _ in events]
    assert "delta" in names and names[-1] == "error" and "done" not in names
    assert set(dict(events)["error"]) == {"type", "message"}
    stored = await _messages(http, tenant, thread_id)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    partial = stored[1]
    assert partial["status"] == "incomplete"
    assert partial["content"] and long_reply.startswith(partial["content"])
    assert len(upstream_requests(stack, text)) == 1  # never retried after the first byte
