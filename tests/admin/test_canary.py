"""No response, stored record or log line ever carries a credential value."""

from __future__ import annotations

import secrets

from tests.admin.helpers import marker, provider_set, tenant_with_admin


async def test_planted_canary_keys_never_come_back(stack, http, platform):
    from common.store import records

    tenant, admin = await tenant_with_admin(http, platform)
    canary = "sk-canary-" + secrets.token_hex(16)
    rotated = "sk-canary2-" + secrets.token_hex(16)
    app = await admin.create("apps", {"name": "Shop", "slug": "shop"})
    provider, model, cred = await provider_set(admin, "openai", stack.aimock.url + "/v1", canary, "gpt-4o")
    assistant = await admin.create(
        "assistants",
        {"app_id": app["id"], "name": "S", "slug": "s", "model_id": model["id"], "credential_id": cred["id"]},
    )
    key = (await admin.create("client-keys", {"app_id": app["id"]}))["key"]
    stack.aimock.add({"match": {"userMessage": "canary-"}, "response": {"content": "fine"}})
    ids = {"provider_id": provider["id"], "model_id": model["id"], "credential_id": cred["id"]}
    cid = cred["id"]

    await admin.get(f"/credentials/{cid}")
    await admin.get("/credentials")
    await admin.get("/config/export")
    await admin.post(f"/providers/{provider['id']}/test", {"credential_id": cid})
    await admin.post("/playground/chat", {**ids, "message": marker("canary")})
    await admin.post("/playground/chat", {**ids, "message": marker("canary"), "stream": True})
    stack.aimock.next_error(401, "Incorrect API key provided: " + canary, "invalid_request_error")
    await admin.post("/playground/chat", {**ids, "message": marker("canary")})
    stack.aimock.next_error(401, "Incorrect API key provided: " + canary, "invalid_request_error")
    await admin.post(f"/providers/{provider['id']}/test", {"credential_id": cid})
    await admin.patch(f"/credentials/{cid}", {"value": rotated})
    await admin.patch(f"/credentials/{cid}", {"value": rotated + "x" * 9000})  # too long: 422
    await admin.patch(f"/credentials/{cid}", {"value": rotated, "last4": "zzzz"})  # read-only: 422
    await admin.post("/credentials", {"provider_id": "nope", "value": canary})  # bad reference: 422
    await admin.call("POST", "/credentials", content=b'{"value": "' + canary.encode() + b'", ', headers={})
    await admin.get("/audit")
    thread = (await http.post("/start", json={}, headers={"Authorization": f"Bearer {key}"})).json()[
        "thread_id"
    ]
    chat = await http.post(
        "/chat",
        json={"thread_id": thread, "message": marker("canary")},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert chat.status_code == 200, chat.text
    assert len(admin.seen) > 15

    for resp in admin.seen:
        body = resp.text
        assert canary not in body and rotated not in body, (resp.request.url, body[:300])
        assert canary not in str(resp.headers)
    stored = await records.get_record(tenant, "credentials", cid)
    assert canary not in str(stored) and rotated not in str(stored)
    audit = await admin.get("/audit")
    assert canary not in audit.text
    log = stack.functions.log_path.read_text(errors="replace")
    assert canary not in log and rotated not in log
    assert assistant["id"] in log or "POST" in log  # the log is the functions process's, and it was written
