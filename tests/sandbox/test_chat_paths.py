"""Code providers inside chat's machinery: a tool round per template, and fallbacks between
code and built-in providers in both directions.

Tenant `code-e2e` (fixed id: its Python tools are tests/fixtures/tenants/code-e2e/tools.py)
is seeded once with one assistant per template, all pointed at aimock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Stack, TenantHandle
from tests.sandbox.helpers import UPSTREAM_MODEL, base_url
from tests.sandbox.test_templates import KINDS
from tests.tools.support import chat, marker, named, stored

TENANT = "code-e2e"
RAISER = "async def stream(request):\n    raise RuntimeError('vendor API changed')\n    yield ''\n"
_seeded: dict[str, TenantHandle] = {}


def _slug(kind: str) -> str:
    return "code-" + kind.replace("_", "-")


def _bundle(aimock: str) -> dict[str, Any]:
    from common.sandbox.templates import template

    providers: list[dict[str, Any]] = [
        {"id": f"p-{_slug(k)}", "kind": "code", "name": k, "python_code": template(k)["python_code"],
         "config": {**template(k)["config"], "base_url": base_url(k, aimock)}}
        for k in KINDS
    ]  # fmt: skip
    providers += [
        {"id": "p-raiser", "kind": "code", "name": "raiser", "python_code": RAISER},
        {"id": "p-builtin", "kind": "openai", "name": "openai", "base_url": aimock + "/v1"},
        {"id": "p-dead", "kind": "openai", "name": "dead", "base_url": "http://127.0.0.1:9/v1"},
    ]
    names = {
        **{_slug(k): UPSTREAM_MODEL[k] for k in KINDS},
        "raiser": "m",
        "builtin": "gpt-4o",
        "dead": "gpt-4o",
    }
    models = [{"id": f"m-{n}", "provider_id": f"p-{n}", "name": names[n], "max_tokens": 8000} for n in names]
    creds = [{"id": f"c-{n}", "provider_id": f"p-{n}", "name": n} for n in names]
    assistants = [
        {"id": f"tools-{_slug(k)}", "app_id": "shop", "name": k, "slug": f"tools-{_slug(k)}",
         "model_id": f"m-{_slug(k)}", "credential_id": f"c-{_slug(k)}", "tools": ["get_weather"]}
        for k in KINDS
    ]  # fmt: skip
    assistants += [
        {"id": "code-to-builtin", "app_id": "shop", "name": "a", "slug": "code-to-builtin",
         "model_id": "m-raiser", "credential_id": "c-raiser", "fallback_model_ids": ["m-builtin"]},
        {"id": "builtin-to-code", "app_id": "shop", "name": "b", "slug": "builtin-to-code",
         "model_id": "m-dead", "credential_id": "c-dead", "fallback_model_ids": ["m-code-anthropic"]},
    ]  # fmt: skip
    return {
        "tenant": {"id": TENANT, "name": TENANT},
        "apps": [{"id": "shop", "name": "Shop", "slug": "shop"}],
        "providers": providers,
        "models": models,
        "credentials": creds,
        "assistants": assistants,
    }


@pytest.fixture()
async def tenant(code_stack: Stack) -> TenantHandle:
    from common.config.models import Bundle
    from common.provision import provision

    if TENANT not in _seeded:
        data = _bundle(code_stack.aimock.url)
        keys = await provision(
            Bundle.model_validate(data),
            to="firestore",
            secrets={c["id"]: f"sk-{c['id']}-secretvalue" for c in data["credentials"]},
            client_key_apps=["shop"],
        )
        _seeded[TENANT] = TenantHandle(TENANT, keys["shop"], data)
    return _seeded[TENANT]


@pytest.mark.parametrize("kind", KINDS)
async def test_one_tool_round(code_stack, chttp, tenant, kind):
    m = marker("weather")
    code_stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": '"temperature":21'},
            "response": {"content": "It is 21 degrees in Paris."},
        },
        {
            "match": {"userMessage": m, "hasToolResult": False},
            "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        },
    )

    events = await chat(chttp, tenant, f"tools-{_slug(kind)}", f"Weather in Paris? {m}")

    [call] = named(events, "tool_call")
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    [result] = named(events, "tool_result")
    assert result["is_error"] is False and '"temperature":21' in result["result"].replace(" ", "")
    assert named(events, "message")[0]["text"] == "It is 21 degrees in Paris."
    thread = events[0][1]["thread_id"]
    roles = [msg["role"] for msg in await stored(chttp, tenant, thread)]
    assert roles == ["user", "assistant", "tool", "assistant"]


async def test_code_provider_that_raises_falls_back_to_a_builtin(code_stack, chttp, tenant):
    m = marker("fallback")
    code_stack.aimock.add({"match": {"userMessage": m}, "response": {"content": "Built-in answer."}})

    events = await chat(chttp, tenant, "code-to-builtin", f"question {m}")

    message = named(events, "message")[0]
    assert (message["text"], message["provider"]) == ("Built-in answer.", "openai")


async def test_builtin_that_fails_falls_back_to_a_code_provider(code_stack, chttp, tenant):
    m = marker("fallback")
    code_stack.aimock.add({"match": {"userMessage": m}, "response": {"content": "Claude answer."}})

    events = await chat(chttp, tenant, "builtin-to-code", f"question {m}")

    message = named(events, "message")[0]
    assert (message["text"], message["provider"]) == ("Claude answer.", "code")
    usage = named(events, "usage")[0]
    assert set(usage) == {"input_tokens", "output_tokens"}
