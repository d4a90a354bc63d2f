"""Issue #9 item 8: an Idempotency-Key is never stuck "running" for ever.

A running claim is a lease that ends shortly after the turn deadline; an expired record
(`expires_at` past: Firestore's TTL deletion is lazy) counts as absent; a reply that
cannot be stored ends the turn with an error, never a success.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.conftest import make_tenant, upstream_requests
from tests.support.services import start_functions
from tests.support.stall_proxy import StallProxy


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _doc(tenant, route: str, key: str):
    from common.auth.client_keys import authenticate
    from common.store.db import tenant_collection

    client_key = await authenticate(tenant.key)
    doc_id = hashlib.sha256(f"{client_key.key_id}\0{route}\0{key}".encode()).hexdigest()
    return tenant_collection(tenant.id, "idempotency").document(doc_id)


async def test_an_expired_record_counts_as_absent(stack, http):
    """TTL deletion is lazy: a record past `expires_at` must not answer 409 or 422."""
    tenant = await make_tenant(stack)
    text = marker("expired")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "fresh run"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    long_ago = datetime.now(UTC) - timedelta(days=2)
    ref = await _doc(tenant, "chat", "old-key")
    await ref.set(
        {
            "request_hash": "another body",
            "state": "running",
            "created_at": long_ago,
            "lease_until": datetime.now(UTC) + timedelta(hours=1),
            "expires_at": long_ago + timedelta(hours=24),
        }
    )
    headers = {**tenant.auth, "Idempotency-Key": "old-key"}
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["fresh run"]
    replay = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=headers)
    assert replay.json() == resp.json() and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(upstream_requests(stack, text)) == 1


async def test_a_lapsed_running_lease_is_taken_over(stack, http):
    """A claim whose holder died (lease over, record not expired) no longer blocks its key."""
    tenant = await make_tenant(stack)
    text = marker("lapsed")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "taken over"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    body = {"thread_id": thread_id, "message": text}
    from common.chat.idempotency import fingerprint

    now = datetime.now(UTC)
    ref = await _doc(tenant, "chat", "dead-holder")
    await ref.set(
        {
            "request_hash": fingerprint({**body, "stream": None}),
            "state": "running",
            "created_at": now - timedelta(minutes=20),
            "lease_until": now - timedelta(minutes=10),
            "expires_at": now + timedelta(hours=23),
        }
    )
    headers = {**tenant.auth, "Idempotency-Key": "dead-holder"}
    resp = await http.post("/chat", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["taken over"]


async def test_a_firestore_stall_mid_turn_never_leaves_the_key_running(stack, tmp_path):
    host, port = stack.env["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)
    proxy = StallProxy(host, int(port)).start()
    env = {
        **stack.env,
        "FIRESTORE_EMULATOR_HOST": proxy.host,
        "TURN_DEADLINE_S": "8",
        "FIRESTORE_DEADLINE_S": "1.5",
    }
    functions = start_functions(env)
    try:
        tenant = await make_tenant(stack)
        text = marker("stall")
        reply = "word " * 40
        stack.aimock.add(
            {"match": {"userMessage": text}, "response": {"content": reply}, "latency": 100, "chunkSize": 10}
        )
        async with httpx.AsyncClient(base_url=functions.url, timeout=120) as client:
            thread_id = (await client.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
            headers = {**tenant.auth, "Idempotency-Key": "stalled-turn"}
            body = {"thread_id": thread_id, "message": text}
            first = asyncio.create_task(client.post("/chat", json=body, headers=headers))
            for _ in range(200):  # stall once the model is answering (user message stored)
                if upstream_requests(stack, text):
                    break
                await asyncio.sleep(0.05)
            proxy.stall()
            resp = await first
            # Nothing reports success without the reply stored.
            assert resp.status_code >= 500, resp.text
            proxy.resume(drop=True)  # what was sent during the stall is lost

            started, statuses = time.monotonic(), []
            while time.monotonic() - started < 90:
                again = await client.post("/chat", json=body, headers=headers)
                statuses.append(again.status_code)
                if again.status_code == 200:
                    break
                assert again.status_code in (409, 503), again.text
                await asyncio.sleep(1)
            assert statuses[-1] == 200, statuses  # the key came free (the lease ended)
            assert again.json()["responses"] == [reply]
            replay = await client.post("/chat", json=body, headers=headers)
            assert replay.headers.get("Idempotent-Replayed") == "true"
    finally:
        functions.stop()
        proxy.stop()
