"""Usage read from chat's counters, and the audit log of admin writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.admin.helpers import Admin, marker
from tests.e2e.conftest import make_tenant


async def test_usage_per_app_assistant_and_day_with_filters(stack, http, platform):
    tenant = await make_tenant(stack)
    admin = Admin(http, platform.headers, tenant=tenant.id)
    stack.aimock.add({"match": {"userMessage": "usage-"}, "response": {"content": "counted"}})
    for assistant, turns in (("support-openai", 2), ("support-cohere", 1)):
        thread = (await http.post("/start", json={"assistant": assistant}, headers=tenant.auth)).json()[
            "thread_id"
        ]
        for _ in range(turns):
            resp = await http.post(
                "/chat", json={"thread_id": thread, "message": marker("usage")}, headers=tenant.auth
            )
            assert resp.status_code == 200, resp.text

    today = datetime.now(UTC).date().isoformat()
    body = (await admin.get("/usage")).json()
    rows = {(r["day"], r["app_id"], r["assistant_id"]): r for r in body["items"]}
    assert rows[(today, "shop", "support-openai")]["requests"] == 2
    assert rows[(today, "shop", "support-cohere")]["requests"] == 1
    assert rows[(today, "shop", "support-openai")]["output_tokens"] > 0
    assert rows[(today, "shop", "support-openai")]["cost"] > 0
    assert body["totals"]["requests"] == 3 and body["to"] == today

    only = (await admin.get("/usage", params={"assistant_id": "support-cohere"})).json()
    assert [r["assistant_id"] for r in only["items"]] == ["support-cohere"] and only["totals"][
        "requests"
    ] == 1
    past = (datetime.now(UTC).date() - timedelta(days=10)).isoformat()
    empty = (await admin.get("/usage", params={"from": past, "to": past})).json()
    assert empty["items"] == [] and empty["totals"]["requests"] == 0
    for params, field in (({"from": "yesterday"}, "from"), ({"from": today, "to": past}, "from")):
        resp = await admin.get("/usage", params=params)
        assert resp.status_code == 422 and resp.json()["error"]["field"] == field


async def test_every_write_is_audited_with_field_names_only(stack, http, platform):
    from tests.admin.helpers import tenant_with_admin

    _, admin = await tenant_with_admin(http, platform)
    me = (await admin.get("/auth/me")).json()
    provider = await admin.create("providers", {"kind": "openai", "name": "openai"})
    secret = "sk-audit-0123456789abcdef"
    cred = await admin.create("credentials", {"provider_id": provider["id"], "value": secret})
    await admin.patch(f"/credentials/{cred['id']}", {"name": "renamed", "value": secret + "2"})
    await admin.delete(f"/credentials/{cred['id']}")
    resp = await admin.get("/audit")
    assert resp.status_code == 200 and secret not in resp.text
    entries = resp.json()["items"]
    summary = [(e["action"], e["collection"], e["target_id"]) for e in entries]
    assert summary[:4] == [
        ("delete", "credentials", cred["id"]),
        ("update", "credentials", cred["id"]),
        ("create", "credentials", cred["id"]),
        ("create", "providers", provider["id"]),
    ]
    assert entries[1]["fields"] == ["name", "value"]
    assert "value" in entries[2]["fields"]
    assert all(e["actor"] == me["username"] and e["role"] == "tenant_admin" for e in entries[:4])
    page = (await admin.get("/audit", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_page_token"]
    nxt = (await admin.get("/audit", params={"limit": 1, "page_token": page["next_page_token"]})).json()
    assert nxt["items"][0]["id"] == entries[1]["id"]
