"""Client gone mid-stream, concurrent turns on one thread, and a database outage."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.e2e.conftest import Stack, make_tenant, stack_env, use_env_in_process
from tests.support.services import start_firestore, start_functions


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _messages(http, tenant, thread_id):
    return (await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)).json()["messages"]


async def test_client_gone_mid_stream_stores_the_partial_reply_as_incomplete(stack, http):
    tenant = await make_tenant(stack)
    text = marker("gone")
    reply = "word " * 200
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": reply}, "latency": 50})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    async with http.stream(
        "POST", "/chat", json={"thread_id": thread_id, "message": text, "stream": True}, headers=tenant.auth
    ) as resp:
        async for chunk in resp.aiter_text():
            if "event: delta" in chunk:
                break  # leave after the first delta: the connection closes here
    for _ in range(50):
        stored = await _messages(http, tenant, thread_id)
        if len(stored) == 2:
            break
        await asyncio.sleep(0.1)
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["status"] == "incomplete"
    assert stored[1]["content"] and reply.startswith(stored[1]["content"]) and stored[1]["content"] != reply


async def test_concurrent_turns_on_one_thread_are_all_kept_in_order(stack, http):
    tenant = await make_tenant(stack)
    texts = [marker(f"concurrent{i}") for i in range(6)]
    stack.aimock.add(
        *({"match": {"userMessage": t}, "response": {"content": f"reply to {t}"}} for t in texts)
    )
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    results = await asyncio.gather(
        *(http.post("/chat", json={"thread_id": thread_id, "message": t}, headers=tenant.auth) for t in texts)
    )
    assert all(r.status_code == 200 for r in results)
    stored = await _messages(http, tenant, thread_id)
    assert len(stored) == 12
    users = [m["content"] for m in stored if m["role"] == "user"]
    assert sorted(users) == sorted(texts)
    ids = [m["id"] for m in stored]
    assert ids == sorted(ids)  # one total order, by arrival
    for t in texts:  # each reply comes after its own question
        position = {m["content"]: i for i, m in enumerate(stored)}
        assert position[f"reply to {t}"] > position[t]


async def test_database_outage_is_503_with_retry_after(stack, storage_emulator, tmp_path):
    firestore = start_firestore()
    env = stack_env(firestore, storage_emulator, str(tmp_path / "secrets.json"))
    use_env_in_process(env)
    functions = start_functions(env)
    try:
        private = Stack(functions, stack.aimock, env)
        tenant = await make_tenant(private)
        async with httpx.AsyncClient(base_url=functions.url, timeout=60) as client:
            thread_id = (await client.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
            firestore.stop()
            resp = await client.post(
                "/chat", json={"thread_id": thread_id, "message": "hi"}, headers=tenant.auth
            )
        assert resp.status_code == 503, resp.text
        assert resp.headers.get("Retry-After")
        assert resp.json()["error"]["type"] == "dependency_unavailable"
    finally:
        functions.stop()
        firestore.stop()
        use_env_in_process(stack.env)
