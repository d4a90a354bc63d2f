"""SPEC §1 end to end, through HTTP only: an operator builds acme's shop, chats, then
switches Support from Gemini to OpenAI gpt-4o with one PATCH."""

from __future__ import annotations

import json
import secrets

from tests.admin.header_proxy import authorization
from tests.admin.helpers import marker, poll, provider_set, tenant_with_admin
from tests.e2e.conftest import upstream_requests


async def _chat(http, key: str, assistant: str, text: str) -> dict:
    auth = {"Authorization": f"Bearer {key}"}
    started = await http.post("/start", json={"assistant": assistant}, headers=auth)
    assert started.status_code == 201, started.text
    resp = await http.post(
        "/chat", json={"thread_id": started.json()["thread_id"], "message": text}, headers=auth
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_operator_builds_a_tenant_and_switches_provider_with_one_patch(
    stack, http, platform, header_proxy
):
    _, admin = await tenant_with_admin(http, platform)
    aimock = stack.aimock.url
    suffix = secrets.token_hex(4)
    keys = {p: f"sk-{p}-{suffix}-{secrets.token_hex(8)}" for p in ("gemini", "cohere", "openai")}

    app = await admin.create("apps", {"name": "E-Commerce", "slug": "shop", "description": "Online store"})
    _, gemini_model, gemini_cred = await provider_set(
        admin, "gemini", aimock, keys["gemini"], "gemini-2.0-flash"
    )
    _, cohere_model, cohere_cred = await provider_set(
        admin, "cohere", aimock, keys["cohere"], "command-r-plus"
    )
    # OpenAI goes through a recording proxy to aimock: aimock's journal redacts the key header.
    _, openai_model, openai_cred = await provider_set(
        admin, "openai", header_proxy.url + "/v1", keys["openai"], "gpt-4o"
    )
    support = await admin.create(
        "assistants",
        {
            "app_id": app["id"],
            "name": "Customer Support",
            "slug": "support",
            "system_prompt": "You are a helpful customer support agent.",
            "model_id": gemini_model["id"],
            "credential_id": gemini_cred["id"],
        },
    )
    await admin.create(
        "assistants",
        {
            "app_id": app["id"],
            "name": "Sales",
            "slug": "sales",
            "system_prompt": "You are a persuasive sales assistant.",
            "model_id": cohere_model["id"],
            "credential_id": cohere_cred["id"],
        },
    )
    created = await admin.post("/client-keys", {"app_id": app["id"], "name": "shop web"})
    assert created.status_code == 201, created.text
    client_key = created.json()["key"]
    assert client_key.startswith("ak_")
    assert json.loads(created.text)["is_active"] is True

    stack.aimock.add({"match": {"userMessage": "acme-"}, "response": {"content": "Happy to help."}})
    gemini_text, cohere_text = marker("acme-support"), marker("acme-sales")
    body = await _chat(http, client_key, "support", gemini_text)
    assert body["provider"] == "gemini" and body["responses"] == ["Happy to help."]
    assert "helpful customer support" in json.dumps(upstream_requests(stack, gemini_text)[-1]["body"])
    body = await _chat(http, client_key, "sales", cohere_text)
    assert body["provider"] == "cohere"
    assert "persuasive sales" in json.dumps(upstream_requests(stack, cohere_text)[-1]["body"])

    switched = await admin.patch(
        f"/assistants/{support['id']}", {"model_id": openai_model["id"], "credential_id": openai_cred["id"]}
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["model_id"] == openai_model["id"]

    seen: dict = {}

    async def uses_openai() -> bool:
        text = marker("acme-switch")
        seen["body"] = await _chat(http, client_key, "support", text)
        seen["journal"] = upstream_requests(stack, text)
        seen["proxied"] = header_proxy.requests_with(text)
        return seen["body"]["provider"] == "openai"

    took = await poll(uses_openai, timeout=10)
    assert took < 10
    assert seen["body"]["model"] == "gpt-4o"
    entry = seen["journal"][-1]
    assert entry["path"] == "/v1/chat/completions"
    assert "authorization" in {k.lower() for k in entry["headers"]}  # aimock shows it, redacted
    assert "helpful customer support" in json.dumps(entry["body"])
    proxied = seen["proxied"][-1]
    assert proxied.path == "/v1/chat/completions"
    assert authorization(proxied) == f"Bearer {keys['openai']}"
