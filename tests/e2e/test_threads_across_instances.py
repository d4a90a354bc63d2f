"""A thread's history reaches the model whichever instance serves each turn.

Each instance remembers what it saw of a thread (its identity; whether it has messages),
and a thread's first turn skips the history query: these tests make sure no instance
acts on a stale view of another's turns.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Stack, make_tenant, upstream_requests
from tests.support.services import Service, start_functions


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=["always", "never"])
def other_instance(stack: Stack, request: pytest.FixtureRequest) -> Iterator[Service]:
    """A second functions process on the same emulators: another instance of the service,
    querying history on an unseen thread while reading it, or only after (HISTORY_PREFETCH)."""
    svc = start_functions({**stack.env, "HISTORY_PREFETCH": request.param})
    yield svc
    svc.stop()


async def _chat(url: str, auth: dict[str, str], thread_id: str, text: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        resp = await client.post("/chat", json={"thread_id": thread_id, "message": text}, headers=auth)
    assert resp.status_code == 200, resp.text


def _sent(stack: Stack, text: str) -> str:
    return json.dumps(upstream_requests(stack, text)[-1]["body"])


async def test_turns_alternating_between_instances_all_reach_the_model(stack, http, other_instance):
    tenant = await make_tenant(stack)
    a, b, c = marker("a"), marker("b"), marker("c")
    stack.aimock.add(
        *({"match": {"userMessage": m}, "response": {"content": f"reply {m}"}} for m in (a, b, c))
    )
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]

    await _chat(other_instance.url, tenant.auth, thread_id, a)  # first turn, elsewhere
    assert f"reply {a}" not in _sent(stack, a)
    # The creating instance last saw the thread empty; it must not trust that.
    await _chat(stack.url, tenant.auth, thread_id, b)
    assert a in _sent(stack, b) and f"reply {a}" in _sent(stack, b)
    await _chat(other_instance.url, tenant.auth, thread_id, c)
    sent = _sent(stack, c)
    assert all(x in sent for x in (a, f"reply {a}", b, f"reply {b}"))


async def test_a_thread_stored_without_the_has_messages_flag_still_sends_its_history(stack, http):
    """Threads written before the flag existed (or by other tools) count as having messages."""
    from common.store.db import tenant_collection

    tenant = await make_tenant(stack)
    old, new = marker("old"), marker("new")
    stack.aimock.add({"match": {"userMessage": new}, "response": {"content": "ok"}})
    thread_id = "th_legacy" + uuid.uuid4().hex[:12]
    ref = tenant_collection(tenant.id, "threads").document(thread_id)
    await ref.set({"app_id": "shop", "assistant_id": "support-openai", "metadata": {}})
    seq = "00000000000000000001-aaaaaaaa"
    await (
        ref.collection("messages")
        .document(seq)
        .set({"role": "user", "content": old, "status": "complete", "seq": seq})
    )

    resp = await http.post("/chat", json={"thread_id": thread_id, "message": new}, headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    assert old in _sent(stack, new)
    assert (await ref.get()).to_dict()["has_messages"] is True
