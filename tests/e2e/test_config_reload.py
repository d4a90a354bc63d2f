"""Config from the GCS bundle, Firestore overrides, and runtime switches within 10 s."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from common.store import records
from tests.e2e.conftest import make_tenant, upstream_requests


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _chat_until(http, tenant, thread_id, text_prefix, predicate, stack, timeout=12.0):
    """Chat repeatedly until the upstream request satisfies `predicate`; return seconds taken."""
    started = time.monotonic()
    while True:
        text = marker(text_prefix)
        resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
        assert resp.status_code == 200, resp.text
        sent = upstream_requests(stack, text)
        if sent and predicate(sent[-1], resp.json()):
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "config change not picked up within 10 s"
        await asyncio.sleep(0.5)


async def test_switching_provider_and_model_in_firestore_applies_without_restart(stack, http):
    tenant = await make_tenant(stack)
    stack.aimock.add({"match": {"userMessage": "switch-"}, "response": {"content": "ok"}})
    thread_id = (await http.post("/start", json={"assistant": "support-gemini"}, headers=tenant.auth)).json()[
        "thread_id"
    ]
    await _chat_until(
        http, tenant, thread_id, "switch-", lambda req, body: "streamGenerateContent" in req["path"], stack
    )

    assistant = await records.get_record(tenant.id, "assistants", "support-gemini")
    assistant.update(model_id="m-openai", credential_id="c-openai")
    await records.put_record(tenant.id, "assistants", "support-gemini", assistant)

    took = await _chat_until(
        http,
        tenant,
        thread_id,
        "switch-",
        lambda req, body: "chat/completions" in req["path"] and body["provider"] == "openai",
        stack,
    )
    assert took <= 11


async def test_bundle_in_gcs_is_used_and_firestore_record_overrides_it(stack, http):
    tenant = await make_tenant(stack, to="gcs")
    stack.aimock.add({"match": {"userMessage": "bundle-"}, "response": {"content": "from bundle"}})
    thread_id = (await http.post("/start", json={"assistant": "support-openai"}, headers=tenant.auth)).json()[
        "thread_id"
    ]
    text = marker("bundle-")
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    assert "helpful support agent (openai)" in json.dumps(upstream_requests(stack, text)[-1]["body"])

    # Same id in Firestore wins over the bundle.
    override = next(a for a in tenant.bundle["assistants"] if a["id"] == "support-openai")
    await records.put_record(
        tenant.id,
        "assistants",
        "support-openai",
        {**override, "system_prompt": "You are the OVERRIDDEN prompt."},
    )
    await _chat_until(
        http,
        tenant,
        thread_id,
        "bundle-",
        lambda req, body: "OVERRIDDEN" in json.dumps(req["body"]),
        stack,
    )
