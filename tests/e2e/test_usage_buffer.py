"""The stateless endpoint's usage is counted off the response path and never lost on SIGTERM."""

from __future__ import annotations

import asyncio
import uuid

import openai

from tests.e2e.conftest import Stack, make_tenant
from tests.support.services import start_functions


async def _usage_doc(tenant: str, assistant: str) -> dict | None:
    from datetime import UTC, datetime

    from common.store.db import tenant_collection

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    snap = await tenant_collection(tenant, "usage").document(f"{day}_shop_{assistant}").get()
    return snap.to_dict() if snap.exists else None


async def _wait_usage(tenant: str, assistant: str, requests: int, within_s: float) -> dict | None:
    deadline = asyncio.get_running_loop().time() + within_s
    doc = None
    while asyncio.get_running_loop().time() < deadline:
        doc = await _usage_doc(tenant, assistant)
        if doc and doc.get("requests") == requests:
            return doc
        await asyncio.sleep(0.1)
    return doc


async def test_usage_is_batched_after_the_response(stack: Stack):
    tenant = await make_tenant(stack)
    text = f"flushed-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "counted"}})
    client = openai.AsyncOpenAI(api_key=tenant.key, base_url=stack.url + "/chat/v1", max_retries=0)
    for _ in range(3):
        result = await client.chat.completions.create(
            model="support-openai", messages=[{"role": "user", "content": text}]
        )
        assert result.choices[0].message.content == "counted"
    doc = await _wait_usage(tenant.id, "support-openai", 3, within_s=10)
    assert doc is not None and doc["requests"] == 3
    assert doc["input_tokens"] == 3 * result.usage.prompt_tokens  # type: ignore[union-attr]
    assert doc["cost"] > 0


async def test_sigterm_flushes_pending_usage(stack: Stack):
    """An instance told to stop (Cloud Run's SIGTERM) writes what it still holds."""
    svc = start_functions({**stack.env, "USAGE_FLUSH_S": "600"})
    try:
        tenant = await make_tenant(stack)
        text = f"flushterm-{uuid.uuid4().hex[:8]}"
        stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "counted"}})
        client = openai.AsyncOpenAI(api_key=tenant.key, base_url=svc.url + "/chat/v1", max_retries=0)
        await client.chat.completions.create(
            model="support-openai", messages=[{"role": "user", "content": text}]
        )
        await asyncio.sleep(0.5)
        assert await _usage_doc(tenant.id, "support-openai") is None  # held in memory, not yet written
    finally:
        svc.stop()  # SIGTERM to the group, as Cloud Run does
    doc = await _wait_usage(tenant.id, "support-openai", 1, within_s=5)
    assert doc is not None and doc["requests"] == 1
