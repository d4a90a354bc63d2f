"""Client keys (shown once, stored hashed, revocable) and provider key rotation."""

from __future__ import annotations

import hashlib
import secrets

from tests.admin.header_proxy import authorization
from tests.admin.helpers import marker, poll, support_app, tenant_with_admin


async def test_client_key_is_shown_once_stored_hashed_and_revocable(stack, http, platform):
    from common.auth.client_keys import INDEX
    from common.store.db import get_db, tenant_collection

    tenant, admin = await tenant_with_admin(http, platform)
    shop = await support_app(admin, stack.aimock.url + "/v1", "sk-" + secrets.token_hex(12))
    created = await admin.post(
        "/client-keys", {"app_id": shop["app"]["id"], "name": "web", "scopes": ["chat"]}
    )
    assert created.status_code == 201, created.text
    plaintext, key_id = created.json()["key"], created.json()["id"]
    assert created.json()["prefix"] == plaintext[:10]

    fetched = await admin.get(f"/client-keys/{key_id}")
    listed = await admin.get("/client-keys", params={"app_id": shop["app"]["id"]})
    for resp in (fetched, listed):
        assert resp.status_code == 200 and plaintext not in resp.text and "key_hash" not in resp.text
    stored = (await tenant_collection(tenant, "client_keys").document(key_id).get()).to_dict()
    assert stored["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in str(stored)

    auth = {"Authorization": f"Bearer {plaintext}"}
    assert (await http.post("/start", json={}, headers=auth)).status_code == 201

    revoked = await admin.patch(f"/client-keys/{key_id}", {"is_active": False})
    assert (
        revoked.status_code == 200 and revoked.json()["is_active"] is False and revoked.json()["revoked_at"]
    )

    async def refused() -> bool:
        return (await http.post("/start", json={}, headers=auth)).status_code == 401

    assert await poll(refused, timeout=10) < 10
    index = (await get_db().collection(INDEX).document(stored["key_hash"]).get()).to_dict()
    assert index["is_active"] is False

    restored = await admin.patch(f"/client-keys/{key_id}", {"is_active": True})
    assert restored.status_code == 200

    async def accepted() -> bool:
        return (await http.post("/start", json={}, headers=auth)).status_code == 201

    await poll(accepted, timeout=10)
    assert (await admin.delete(f"/client-keys/{key_id}")).status_code == 204
    assert await poll(refused, timeout=10) < 10
    after = (await admin.get(f"/client-keys/{key_id}")).json()
    assert after["is_active"] is False  # DELETE revokes; the record stays for the audit trail
    unknown_app = await admin.post("/client-keys", {"app_id": "nope"})
    assert unknown_app.status_code == 422 and unknown_app.json()["error"]["field"] == "app_id"


async def test_rotated_credential_is_used_by_the_next_chat(stack, http, platform, header_proxy):
    _, admin = await tenant_with_admin(http, platform)
    old_key, new_key = "sk-old-" + secrets.token_hex(10), "sk-new-" + secrets.token_hex(10)
    shop = await support_app(admin, header_proxy.url + "/v1", old_key)
    client_key = (await admin.create("client-keys", {"app_id": shop["app"]["id"]}))["key"]
    auth = {"Authorization": f"Bearer {client_key}"}
    stack.aimock.add({"match": {"userMessage": "rotate-"}, "response": {"content": "rotated ok"}})
    thread = (await http.post("/start", json={}, headers=auth)).json()["thread_id"]

    async def chat_key() -> str:
        text = marker("rotate")
        resp = await http.post("/chat", json={"thread_id": thread, "message": text}, headers=auth)
        assert resp.status_code == 200, resp.text
        return authorization(header_proxy.requests_with(text)[-1])

    assert await chat_key() == f"Bearer {old_key}"
    cred_before = shop["cred"]
    rotated = await admin.patch(f"/credentials/{cred_before['id']}", {"value": new_key})
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret_version"] != cred_before["secret_version"]
    assert body["last4"] == new_key[-4:] and "value" not in body and new_key not in rotated.text

    async def uses_new_key() -> bool:
        return await chat_key() == f"Bearer {new_key}"

    assert await poll(uses_new_key, timeout=10) < 10
