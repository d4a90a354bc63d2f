"""Issue #9 item 4 (provider base_url SSRF and key extraction) and item 10 (credentials
renamed or deactivated without their value; webhook credentials as their own kind).

The attacker is a tenant admin: it may point its provider anywhere the guard allows
(here a listener on `localhost`, the stack's allow-listed host, standing in for a
public host it controls) but a key stored for another host must never reach it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from tests.admin.helpers import marker, provider_set, support_app, tenant_with_admin, user_of
from tests.e2e.conftest import make_tenant
from tests.tools.hookserver import HookServer, Reply

REFUSED_BASE_URLS = [
    "http://169.254.169.254/v1",
    "https://169.254.169.254/computeMetadata/v1",
    "https://metadata.google.internal/v1",
    "https://metadata/v1",
    "https://127.0.0.1:8080/v1",
    "https://2130706433/v1",
    "https://[::ffff:127.0.0.1]/v1",
    "https://10.0.0.7/v1",
    "https://vault.internal/v1",
    "http://api.example.com/v1",  # http only for allow-listed hosts
    "https://api.example.com/v1?x=/admin",  # a query steers the path
    "https://api.example.com/v1#frag",
    "https://user:pw@api.example.com/v1",
]


@pytest.fixture()
async def listener() -> AsyncIterator[HookServer]:
    srv = await HookServer().start()
    yield srv
    await srv.stop()


async def test_internal_or_steerable_base_urls_are_refused_on_write(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    ok = await admin.create(
        "providers", {"kind": "openai", "name": "o", "base_url": "https://api.example.com/v1"}
    )
    for base_url in REFUSED_BASE_URLS:
        created = await admin.post("/providers", {"kind": "openai", "name": "o", "base_url": base_url})
        assert created.status_code == 422, (base_url, created.text)
        assert created.json()["error"]["field"] == "base_url"
        patched = await admin.patch(f"/providers/{ok['id']}", {"base_url": base_url})
        assert patched.status_code == 422 and patched.json()["error"]["field"] == "base_url", base_url


async def test_a_key_never_follows_its_provider_to_another_host(stack, http, platform, listener):
    _, admin = await tenant_with_admin(http, platform)
    key = "sk-stolen-" + secrets.token_hex(16)
    shop = await support_app(admin, stack.aimock.url + "/v1", key)
    provider, cred = shop["provider"], shop["cred"]
    client_key = (await admin.create("client-keys", {"app_id": shop["app"]["id"]}))["key"]
    auth = {"Authorization": f"Bearer {client_key}"}
    text = marker("bound")
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "from aimock"}})
    first = await http.post("/chat/app/shop/support", json={"message": text}, headers=auth)
    assert first.status_code == 200 and first.json()["responses"] == ["from aimock"]

    # The tenant admin moves the provider to a listener it controls.
    listener.route("/v1/chat/completions", Reply(500, "INTERNAL-BODY secret=hunter2"))
    moved = await admin.patch(f"/providers/{provider['id']}", {"base_url": listener.url("/v1")})
    assert moved.status_code == 200, moved.text

    tested = await admin.post(f"/providers/{provider['id']}/test", {"credential_id": cred["id"]})
    assert tested.status_code == 422 and tested.json()["error"]["field"] == "credential_id"
    ids = {"provider_id": provider["id"], "model_id": shop["model"]["id"], "credential_id": cred["id"]}
    played = await admin.post("/playground/chat", {**ids, "message": "hi"})
    assert played.status_code == 422 and played.json()["error"]["field"] == "credential_id"
    chat = await http.post("/chat/app/shop/support", json={"message": marker("bound")}, headers=auth)
    assert chat.status_code == 502 and chat.json()["error"]["type"] == "provider_refused"
    streamed = await http.post(
        "/chat/app/shop/support", json={"message": marker("bound"), "stream": True}, headers=auth
    )
    assert streamed.status_code == 502
    compat = await http.post(
        "/chat/v1/chat/completions",
        json={"model": "support", "messages": [{"role": "user", "content": "hi"}]},
        headers=auth,
    )
    assert compat.status_code == 502
    assert listener.connections == 0 and listener.requests == []  # the key never left

    # Entering the value again binds it to the new host; the listener's body never comes back.
    again = "sk-entered-" + secrets.token_hex(16)
    assert (await admin.patch(f"/credentials/{cred['id']}", {"value": again})).status_code == 200
    tested = await admin.post(f"/providers/{provider['id']}/test", {"credential_id": cred["id"]})
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["status"] == "error" and result["upstream_status"] == 500
    assert "INTERNAL-BODY" not in tested.text and "hunter2" not in tested.text
    seen = listener.seen("/v1/chat/completions")
    assert seen and all(key not in str(s.headers) + s.body.decode() for s in seen)
    assert seen[-1].headers["authorization"] == f"Bearer {again}"
    played = await admin.post("/playground/chat", {**ids, "message": "hi"})
    assert played.status_code == 502 and "hunter2" not in played.text and "INTERNAL" not in played.text


async def test_a_platform_provisioned_key_stays_home_whatever_the_bundle_says(
    stack, http, platform, listener
):
    """The tenant admin re-imports its bundle with the provider moved to its listener and the
    credential's `host` rewritten to match: only the value's HMAC proves a binding."""
    tenant = await make_tenant(stack, to="gcs")  # keys provisioned by the platform, never shown
    admin = await user_of(http, platform, tenant.id, "tenant_admin")
    cred = (await admin.get("/credentials/c-openai")).json()
    assert cred["host"] == stack.aimock.url.removeprefix("http://") and "host_proof" not in cred
    for field, value in (("host", "localhost:1"), ("host_proof", "0" * 32)):
        refused = await admin.patch("/credentials/c-openai", {field: value})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field
    exported = (await admin.get("/config/export")).text
    forged = exported.replace(stack.aimock.url, f"http://localhost:{listener.port}").replace(
        stack.aimock.url.removeprefix("http://"), f"localhost:{listener.port}"
    )
    assert forged != exported
    imported = await admin.call(
        "POST", "/config/import", content=forged, headers={"Content-Type": "application/yaml"}
    )
    assert imported.status_code == 200, imported.text
    tested = await admin.post("/providers/p-openai/test", {"credential_id": "c-openai"})
    assert tested.status_code == 422 and tested.json()["error"]["field"] == "credential_id"
    chat = await http.post("/chat/app/shop/support-openai", json={"message": "hi"}, headers=tenant.auth)
    assert chat.status_code == 502 and chat.json()["error"]["type"] == "provider_refused"
    assert listener.connections == 0


async def test_a_credential_is_renamed_and_deactivated_without_its_value(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    shop = await support_app(admin, stack.aimock.url + "/v1", "sk-" + secrets.token_hex(16))
    cid = shop["cred"]["id"]
    before = (await admin.get(f"/credentials/{cid}")).json()
    renamed = await admin.patch(f"/credentials/{cid}", {"name": "renamed key"})
    assert renamed.status_code == 200, renamed.text
    after = renamed.json()
    assert after["name"] == "renamed key"
    assert (after["last4"], after["secret_version"], after["host"]) == (
        before["last4"],
        before["secret_version"],
        before["host"],
    )
    stack.aimock.add({"match": {"userMessage": "ping"}, "response": {"content": "pong"}})
    tested = await admin.post(f"/providers/{shop['provider']['id']}/test", {"credential_id": cid})
    assert tested.json()["status"] == "ok", tested.text  # the binding survived the rename
    off = await admin.patch(f"/credentials/{cid}", {"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False


async def test_webhook_credentials_are_their_own_kind(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    provider, _, provider_cred = await provider_set(
        admin, "openai", stack.aimock.url + "/v1", "sk-" + secrets.token_hex(10), "gpt-4o"
    )
    hook_cred = await admin.create("credentials", {"kind": "webhook", "name": "orders", "value": "tok-123"})
    assert hook_cred["kind"] == "webhook" and hook_cred["provider_id"] is None and hook_cred["host"] == ""
    tool = {"name": "order_status", "url": "https://hooks.example.com/orders"}
    made = await admin.create("tools", {**tool, "credential_id": hook_cred["id"]})
    assert made["credential_id"] == hook_cred["id"]
    wrong = await admin.post("/tools", {**tool, "name": "other", "credential_id": provider_cred["id"]})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "credential_id"
    mixed = await admin.post(
        "/credentials", {"kind": "webhook", "provider_id": provider["id"], "value": "tok-456"}
    )
    assert mixed.status_code == 422
    flipped = await admin.patch(
        f"/credentials/{hook_cred['id']}", {"kind": "provider", "provider_id": provider["id"]}
    )
    assert flipped.status_code == 422 and flipped.json()["error"]["field"] == "kind"


async def test_a_webhook_credential_made_through_the_admin_api_authenticates_its_tool(
    stack, http, platform, listener
):
    _, admin = await tenant_with_admin(http, platform)
    app = await admin.create("apps", {"name": "Shop", "slug": "shop"})
    _, model, cred = await provider_set(
        admin, "openai", stack.aimock.url + "/v1", "sk-" + secrets.token_hex(10), "gpt-4o"
    )
    token = "hook-token-" + secrets.token_hex(6)
    hook_cred = await admin.create("credentials", {"kind": "webhook", "name": "orders", "value": token})
    path = listener.route("/orders", Reply(200, {"order_id": "A-1001", "status": "shipped"}))
    schema = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    await admin.create(
        "tools",
        {
            "name": "order_status",
            "url": listener.url(path),
            "parameters": schema,
            "credential_id": hook_cred["id"],
        },
    )
    await admin.create(
        "assistants",
        {
            "app_id": app["id"],
            "name": "Support",
            "slug": "support",
            "model_id": model["id"],
            "credential_id": cred["id"],
            "tools": ["order_status"],
        },
    )
    client_key = (await admin.create("client-keys", {"app_id": app["id"]}))["key"]
    m = marker("hookcred")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "shipped"},
            "response": {"content": "It has shipped."},
        },
        {
            "match": {"userMessage": m},
            "response": {"toolCalls": [{"name": "order_status", "arguments": {"order_id": "A-1001"}}]},
        },
    )
    resp = await http.post(
        "/chat/app/shop/support", json={"message": m}, headers={"Authorization": f"Bearer {client_key}"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["It has shipped."]
    [seen] = listener.seen(path)
    assert seen.headers["authorization"] == f"Bearer {token}"
