"""Build a tenant whose assistant runs on a code provider, through the admin API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from tests.admin.helpers import Admin
from tests.e2e.conftest import parse_sse

UPSTREAM_MODEL = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o",
    "openai_compatible": "llama-3.1-8b",
    "cohere": "command-r-plus",
    "gemini": "gemini-2.0-flash",
    "ollama": "llama3.2",
}


def base_url(kind: str, aimock_url: str) -> str:
    return aimock_url + "/v1" if kind in ("openai", "openai_compatible") else aimock_url


@dataclass
class CodeTenant:
    tenant: str
    admin: Admin
    provider: dict[str, Any]
    model: dict[str, Any]
    cred: dict[str, Any]
    assistant: dict[str, Any]
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def code_tenant(
    platform: Admin, aimock_url: str, kind: str, code: str | None = None, **provider: Any
) -> CodeTenant:
    """A new tenant with app `shop`, a code provider (the `kind` template unless `code` is
    given), a model, a credential, assistant `support` and a client key."""
    resp = await platform.post("/tenants", {"name": "Code " + secrets.token_hex(2)})
    assert resp.status_code == 201, resp.text
    tenant = resp.json()["id"]
    admin = Admin(platform.http, platform.headers, tenant=tenant)
    tpl = (await platform.get(f"/providers/code/template?kind={kind}")).json()
    body = {
        "kind": "code",
        "name": f"{kind} (code)",
        "python_code": code if code is not None else tpl["python_code"],
        "config_schema": tpl["config_schema"],
        "config": {**tpl["config"], "base_url": base_url(kind, aimock_url)},
        "required_dependencies": tpl["required_dependencies"],
        "validation_code": tpl["validation_code"],
        **provider,
    }
    prov = await admin.create("providers", body)
    model = await admin.create(
        "models", {"provider_id": prov["id"], "name": UPSTREAM_MODEL.get(kind, "m"), "max_tokens": 8000}
    )
    cred = await admin.create(
        "credentials", {"provider_id": prov["id"], "name": "key", "value": f"sk-{kind}-{tenant}-secretvalue"}
    )
    app = await admin.create("apps", {"name": "Shop", "slug": "shop"})
    assistant = await admin.create(
        "assistants",
        {
            "app_id": app["id"],
            "name": "Support",
            "slug": "support",
            "system_prompt": "You are a helpful support agent.",
            "model_id": model["id"],
            "credential_id": cred["id"],
        },
    )
    key = await admin.create("client-keys", {"app_id": app["id"], "name": "test"})
    return CodeTenant(tenant, admin, prov, model, cred, assistant, key["key"])


async def chat_sse(http: httpx.AsyncClient, t: CodeTenant, text: str, **extra: Any) -> list[tuple[str, Any]]:
    resp = await http.post(
        "/chat/app/shop/support", json={"message": text, "stream": True, **extra}, headers=t.auth
    )
    assert resp.status_code == 200, resp.text
    return parse_sse(resp.text)


def named(events: list[tuple[str, Any]], name: str) -> list[Any]:
    return [data for n, data in events if n == name]
