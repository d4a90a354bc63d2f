"""The OpenAI-compatibility suite: real client libraries against `/chat/v1`.

One tenant (`compat-tools`, whose server-side tool is in
tests/fixtures/tenants/compat-tools/tools.py) has an assistant per provider,
all behind a recording proxy in front of aimock, so a test can read exactly
what reached each provider's API (aimock's own journal shows Gemini requests
only after translating them to chat messages).

What aimock can emit, per provider (checked in its dist/ for 1.43): a fixture's
`finishReason` is OpenAI-canonical and translated: Cohere `stop`→COMPLETE,
`tool_calls`→TOOL_CALL, `length`→MAX_TOKENS (anything else raw, so no content
filter); Gemini `stop`→STOP, `tool_calls`→FUNCTION_CALL (not a real Gemini value;
the adapter maps it), `length`→MAX_TOKENS, `content_filter`→SAFETY. Tool calls come
as OpenAI `tool_calls` deltas, Cohere `tool-call-start/delta/end` events with ids, and
Gemini `functionCall` parts in one chunk, without ids unless the fixture gives one.
Static fixtures for tool calls, JSON replies and `length` finishes are in
tests/fixtures/aimock/compat.json (also handy by hand); the tests add their own with
unique markers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.admin.header_proxy import HeaderProxy
from tests.e2e.conftest import PROVIDERS, Stack, demo_bundle

TENANT = "compat-tools"


@dataclass
class Compat:
    stack: Stack
    proxy: HeaderProxy
    key: str

    @property
    def base_url(self) -> str:
        return self.stack.url + "/chat/v1"

    def sent(self, marker: str) -> list[dict[str, Any]]:
        """Bodies that reached the providers' APIs and mention `marker`, oldest first."""
        return [json.loads(e.body) for e in self.proxy.requests_with(marker) if e.body]

    def last(self, marker: str) -> dict[str, Any]:
        bodies = self.sent(marker)
        assert bodies, f"no upstream request mentioned {marker}"
        return bodies[-1]

    def add(self, *fixtures: dict[str, Any]) -> None:
        self.stack.aimock.add(*fixtures)


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def _bundle(proxy_url: str) -> dict[str, Any]:
    data = demo_bundle(TENANT, proxy_url)
    base = {"openai": proxy_url + "/v1", "cohere": proxy_url, "gemini": proxy_url}
    for p in data["providers"]:
        p["base_url"] = base[p["kind"]]
    for m in data["models"]:
        m["supports_images"] = True
    data["models"].append(
        {"id": "m-text-only", "provider_id": "p-openai", "name": "gpt-3.5-turbo", "max_tokens": 4000}
    )
    assistants = data["assistants"]
    for p in PROVIDERS:
        base_assistant = next(a for a in assistants if a["id"] == f"support-{p}")
        assistants.append(
            {**base_assistant, "id": f"tooled-{p}", "slug": f"tooled-{p}", "tools": ["lookup_stock"]}
        )
        assistants.append(
            {
                **base_assistant,
                "id": f"json-{p}",
                "slug": f"json-{p}",
                "response_format": {"type": "json_object"},
            }
        )
    assistants.append({**assistants[0], "id": "text-only", "slug": "text-only", "model_id": "m-text-only"})
    return data


@pytest.fixture(scope="session")
def compat_proxy(stack: Stack) -> Iterator[HeaderProxy]:
    proxy = HeaderProxy(stack.aimock.url).start()
    yield proxy
    proxy.stop()


_seeded: dict[str, Compat] = {}


@pytest.fixture()
async def compat(stack: Stack, compat_proxy: HeaderProxy) -> Compat:
    if stack.url not in _seeded:
        from common.config.models import Bundle
        from common.provision import provision

        keys = await provision(
            Bundle.model_validate(_bundle(compat_proxy.url)),
            to="firestore",
            secrets={f"c-{p}": f"sk-{p}-{TENANT}-secretvalue" for p in PROVIDERS},
            client_key_apps=["shop"],
        )
        _seeded[stack.url] = Compat(stack, compat_proxy, keys["shop"])
    return _seeded[stack.url]


def text_reply(mark: str, content: str, **match: Any) -> dict[str, Any]:
    return {"match": {"userMessage": mark, **match}, "response": {"content": content}}


def tool_calls_reply(mark: str, *calls: tuple[str, dict[str, Any]], **match: Any) -> dict[str, Any]:
    """The model asks for `calls` (parallel when several) while no tool result is in the turn."""
    return {
        "match": {"userMessage": mark, "hasToolResult": False, **match},
        "response": {"toolCalls": [{"name": n, "arguments": json.dumps(a)} for n, a in calls]},
    }
