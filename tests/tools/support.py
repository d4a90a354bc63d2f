"""Helpers for the tool e2e tests: fixed-id tenants whose Python tools live in
`tests/fixtures/tenants/{id}/tools.py`, SSE chat calls, and reading what reached aimock.

Why fixed ids: Python tools are code shipped in `tenants/{tenant}/`, found by
the tenant id, so a test tenant with tools needs a known id (the functions
process reads `TENANTS_DIR=tests/fixtures/tenants`). Each such tenant is seeded
once per session (its config then never changes under the functions' config
cache); tests vary behaviour through distinct assistants and unique aimock
markers instead of reseeding.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import PROVIDERS, Stack, TenantHandle, demo_bundle, parse_sse, upstream_requests

_seeded: dict[tuple[str, str], TenantHandle] = {}


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def fixed_tenant(
    stack: Stack, tenant_id: str, mutate: Callable[[dict[str, Any]], None]
) -> TenantHandle:
    from common.config.models import Bundle
    from common.provision import provision

    key = (tenant_id, stack.url)
    if key not in _seeded:
        data = demo_bundle(tenant_id, stack.aimock.url)
        mutate(data)
        keys = await provision(
            Bundle.model_validate(data),
            to="firestore",
            secrets={f"c-{p}": f"sk-{p}-{tenant_id}-secretvalue" for p in PROVIDERS},
            client_key_apps=["shop"],
        )
        _seeded[key] = TenantHandle(tenant_id, keys["shop"], data)
    return _seeded[key]


def add_assistants(data: dict[str, Any], prefix: str, **fields: Any) -> None:
    """One more assistant per provider, `{prefix}-{provider}`, like support-* but with `fields`."""
    for p in PROVIDERS:
        base = next(a for a in data["assistants"] if a["id"] == f"support-{p}")
        data["assistants"].append({**base, "id": f"{prefix}-{p}", "slug": f"{prefix}-{p}", **fields})


async def chat(
    http: httpx.AsyncClient, tenant: TenantHandle, assistant: str, text: str, thread_id: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """One streamed turn through `POST /chat/app/shop/{assistant}`; its SSE events."""
    body: dict[str, Any] = {"message": text, "stream": True}
    if thread_id:
        body["thread_id"] = thread_id
    resp = await http.post(f"/chat/app/shop/{assistant}", json=body, headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    return parse_sse(resp.text)


def named(events: list[tuple[str, dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    return [data for n, data in events if n == name]


async def stored(http: httpx.AsyncClient, tenant: TenantHandle, thread_id: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)
    assert resp.status_code == 200, resp.text
    messages: list[dict[str, Any]] = resp.json()["messages"]
    return messages


def last_request(stack: Stack, mark: str) -> dict[str, Any]:
    entries = upstream_requests(stack, mark)
    assert entries, f"no request with {mark} reached aimock"
    body: dict[str, Any] = entries[-1]["body"]
    return body


def exchanges(provider: str, body: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(tool name, arguments, result) per tool result in an upstream request, checking the
    provider's wire format on the way.

    OpenAI and Cohere bodies are as sent. aimock journals Gemini requests after
    translating `functionCall`/`functionResponse` parts into chat messages;
    the result travels as the `{"output": ...}` object Google documents.
    """
    messages = body["messages"]
    calls: dict[str, dict[str, Any]] = {}
    out: list[tuple[str, Any, Any]] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            for c in m["tool_calls"]:
                assert c["type"] == "function" and set(c["function"]) >= {"name", "arguments"}
                calls[c["id"]] = c
        elif m["role"] == "tool":
            call = calls[m["tool_call_id"]]  # every result answers a call made before it
            content = m["content"]
            if provider == "gemini":
                result = json.loads(content)["output"]
            else:
                assert isinstance(content, str)
                try:
                    result = json.loads(content)
                except ValueError:
                    result = content
            raw = call["function"]["arguments"] or "{}"
            try:
                arguments = json.loads(raw)
            except ValueError:  # malformed arguments are replayed exactly as the model sent them
                arguments = raw
            out.append((call["function"]["name"], arguments, result))
    return out
