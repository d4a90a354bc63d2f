"""The user message's commit overlaps the upstream call, and nothing passes it.

Run in the test process (the same code the functions run), so the commit can
be made to fail at exactly that point; the model is aimock, the store the emulator.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from common.chat import turn as chat_turn
from common.config.cache import get_config
from common.errors import DependencyUnavailable
from common.store import threads
from tests.e2e.conftest import Stack, make_tenant, upstream_requests


async def _new_turn(stack: Stack, text: str) -> chat_turn.Turn:
    tenant = await make_tenant(stack)
    cfg = await get_config(tenant.id)
    assistant = cfg.assistants["support-openai"]
    thread = await threads.create_thread(tenant.id, "shop", assistant.id, {})
    return chat_turn.Turn(tenant.id, cfg, thread, assistant, text, request_id="test")


async def test_failed_user_commit_is_503_and_stores_nothing(stack: Stack, monkeypatch):
    text = f"overlap-fail-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "never shown"}})
    turn = await _new_turn(stack, text)

    seen_upstream: list[object] = []

    async def failing_commit(*args, **kwargs):
        for _ in range(50):  # wait (bounded) until the model call has reached the upstream
            await asyncio.sleep(0.1)
            seen_upstream.extend(upstream_requests(stack, text))
            if seen_upstream:
                break
        raise DependencyUnavailable("the database is unavailable; retry shortly", retry_after=2)

    monkeypatch.setattr(threads, "add_message", failing_commit)
    with pytest.raises(DependencyUnavailable):
        await chat_turn.events(turn)
    monkeypatch.undo()
    assert seen_upstream, "the model call should start while the commit runs"
    await asyncio.sleep(0.3)  # a stray producer would store its reply by now
    assert await threads.list_messages(turn.tenant, turn.thread.id, 10, None) == []


async def test_reply_waits_for_a_slow_user_commit(stack: Stack, monkeypatch):
    text = f"overlap-slow-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "after the commit"}})
    turn = await _new_turn(stack, text)
    real = threads.add_message
    committed = asyncio.Event()

    async def slow_commit(*args, **kwargs):
        await asyncio.sleep(0.5)
        result = await real(*args, **kwargs)
        committed.set()
        return result

    monkeypatch.setattr(threads, "add_message", slow_commit)
    events = await chat_turn.events(turn)
    assert committed.is_set()  # `events` returns only once the user message is stored
    monkeypatch.undo()
    names = [name async for name, _ in events]
    assert names[:1] == ["delta"] and names[-1] == "done"
    stored = await threads.list_messages(turn.tenant, turn.thread.id, 10, None)
    assert [m["role"] for m in stored] == ["user", "assistant"]
