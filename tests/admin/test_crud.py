"""Config CRUD: effective reads, overlay writes, tombstones, conflicts, validation, revisions."""

from __future__ import annotations

import pytest

from tests.admin.helpers import Admin, new_password, provider_set, support_app, tenant_with_admin
from tests.e2e.conftest import make_tenant


async def _shop(stack, admin: Admin) -> dict:
    return await support_app(admin, stack.aimock.url + "/v1", "sk-test-000000000000")


async def test_duplicate_slugs_and_ids_are_409(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    shop = await _shop(stack, admin)
    dup_app = await admin.post("/apps", {"name": "Other", "slug": "shop"})
    assert dup_app.status_code == 409 and dup_app.json()["error"]["field"] == "slug"
    dup_assistant = await admin.post(
        "/assistants",
        {"app_id": shop["app"]["id"], "name": "Two", "slug": "support", "model_id": shop["model"]["id"]},
    )
    assert dup_assistant.status_code == 409
    dup_id = await admin.post("/apps", {"id": shop["app"]["id"], "name": "Other", "slug": "other"})
    assert dup_id.status_code == 409 and dup_id.json()["error"]["field"] == "id"
    # The same assistant slug in another app is fine.
    other = await admin.create("apps", {"name": "Other", "slug": "other"})
    ok = await admin.post(
        "/assistants",
        {"app_id": other["id"], "name": "S", "slug": "support", "model_id": shop["model"]["id"]},
    )
    assert ok.status_code == 201, ok.text
    # Renaming onto a taken slug is a conflict too.
    renamed = await admin.patch(f"/apps/{other['id']}", {"slug": "shop"})
    assert renamed.status_code == 409
    # Usernames are unique across the platform (case-insensitively).
    name = "dup-" + shop["app"]["id"][-6:]
    first = await admin.post(
        "/users", {"username": name, "password": new_password(), "role": "tenant_viewer"}
    )
    assert first.status_code == 201, first.text
    again = await admin.post(
        "/users", {"username": name.upper(), "password": new_password(), "role": "tenant_viewer"}
    )
    assert again.status_code == 409 and again.json()["error"]["field"] == "username"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"name": "A", "slug": "a", "colour": "red"}', 422, "colour"),
        (b'{"name": "A"}', 422, "slug"),
        (b'{"name": "A", "slug": "Not A Slug"}', 422, "slug"),
        (b'{"name": 5, "slug": "a"}', 422, "name"),
        (b'{"name": "\\ud800", "slug": "a"}', 422, "name"),  # a lone surrogate: not storable text
        (
            b'{"name": "A", "slug": "a", "description": "x", "endpoint": null, "icon_url": "\\udfff"}',
            422,
            "icon_url",
        ),
    ],
)
async def test_bad_bodies(stack, http, platform, body, status, field):
    _, admin = await tenant_with_admin(http, platform)
    resp = await admin.call("POST", "/apps", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["request_id"] and err["message"]
    if field:
        assert err["field"] == field


async def test_references_are_checked(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    shop = await _shop(stack, admin)
    cases = [
        ("/models", {"provider_id": "nope", "name": "x"}, "provider_id"),
        ("/credentials", {"provider_id": "nope", "value": "sk-xxxxxxxxxxxx"}, "provider_id"),
        (
            "/assistants",
            {"app_id": "nope", "name": "a", "slug": "a", "model_id": shop["model"]["id"]},
            "app_id",
        ),
        (
            "/assistants",
            {"app_id": shop["app"]["id"], "name": "a", "slug": "a", "model_id": "nope"},
            "model_id",
        ),
        (
            "/assistants",
            {
                "app_id": shop["app"]["id"],
                "name": "a",
                "slug": "a",
                "model_id": shop["model"]["id"],
                "fallback_model_ids": ["nope"],
            },
            "fallback_model_ids.0",
        ),
        ("/tools", {"name": "t", "url": "http://example.com/hook"}, "url"),
        ("/tools", {"name": "t", "url": "https://169.254.169.254/latest"}, "url"),
        ("/tools", {"name": "t", "url": "https://10.0.0.1/x"}, "url"),
        ("/providers", {"kind": "openai_compatible", "name": "x"}, "base_url"),
        ("/providers", {"kind": "code", "name": "x", "python_code": "def chat(): pass"}, "kind"),
    ]
    for path, body, field in cases:
        resp = await admin.post(path, body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["error"]["field"] == field, (path, resp.text)
    # A credential of another provider on an assistant is refused, naming the field.
    _, _, cohere_cred = await provider_set(
        admin, "cohere", stack.aimock.url, "co-key-000000000000", "command-r"
    )
    resp = await admin.patch(f"/assistants/{shop['assistant']['id']}", {"credential_id": cohere_cred["id"]})
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "credential_id"


async def test_delete_of_a_record_in_use_is_409_and_unused_is_204(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    shop = await _shop(stack, admin)
    for path in (
        f"/models/{shop['model']['id']}",
        f"/providers/{shop['provider']['id']}",
        f"/apps/{shop['app']['id']}",
    ):
        resp = await admin.delete(path)
        assert resp.status_code == 409, resp.text
    assert (await admin.delete(f"/assistants/{shop['assistant']['id']}")).status_code == 204
    assert (await admin.get(f"/assistants/{shop['assistant']['id']}")).status_code == 404
    assert (await admin.delete(f"/assistants/{shop['assistant']['id']}")).status_code == 404


async def test_mass_assignment_is_refused(stack, http, platform):
    tenant, admin = await tenant_with_admin(http, platform)
    shop = await _shop(stack, admin)
    assistant_id, cred_id = shop["assistant"]["id"], shop["cred"]["id"]
    refused = [
        (f"/assistants/{assistant_id}", {"tenant_id": "other"}, "tenant_id"),
        (f"/assistants/{assistant_id}", {"id": "renamed"}, "id"),
        (f"/assistants/{assistant_id}", {"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        (f"/credentials/{cred_id}", {"secret_version": "1"}, "secret_version"),
        (f"/credentials/{cred_id}", {"last4": "abcd"}, "last4"),
    ]
    me = (await admin.get("/auth/me")).json()
    viewer = await admin.create(
        "users", {"username": "viewer-" + me["id"][-6:], "password": new_password(), "role": "tenant_viewer"}
    )
    refused += [
        (f"/users/{viewer['id']}", {"role": "platform_admin"}, "role"),
        (f"/users/{viewer['id']}", {"tenant_id": "other"}, "tenant_id"),
        (f"/users/{viewer['id']}", {"password_hash": "$argon2id$x"}, "password_hash"),
        (f"/users/{viewer['id']}", {"username": "root"}, "username"),
        (f"/users/{me['id']}", {"role": "tenant_viewer"}, "role"),  # not your own role
        (f"/users/{me['id']}", {"is_active": False}, "is_active"),
    ]
    key = await admin.create("client-keys", {"app_id": shop["app"]["id"]})
    refused += [
        (f"/client-keys/{key['id']}", {"key_hash": "0" * 64}, "key_hash"),
        (f"/client-keys/{key['id']}", {"app_id": "other"}, "app_id"),
        (f"/client-keys/{key['id']}", {"prefix": "ak_x"}, "prefix"),
    ]
    for path, body, field in refused:
        resp = await admin.patch(path, body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["error"]["field"] == field, (path, resp.text)
    create_platform = await admin.post(
        "/users",
        {"username": "sneaky-" + me["id"][-6:], "password": new_password(), "role": "platform_admin"},
    )
    assert create_platform.status_code == 422 and create_platform.json()["error"]["field"] == "role"
    other_tenant = await admin.post(
        "/users",
        {
            "username": "x-" + me["id"][-6:],
            "password": new_password(),
            "role": "tenant_admin",
            "tenant_id": "t-other",
        },
    )
    assert other_tenant.status_code == 422 and other_tenant.json()["error"]["field"] == "tenant_id"
    # Nothing changed.
    assert (await admin.get(f"/assistants/{assistant_id}")).json() == shop["assistant"]
    assert (await admin.get(f"/users/{viewer['id']}")).json()["role"] == "tenant_viewer"
    assert (await admin.delete(f"/users/{me['id']}")).status_code == 409
    assert tenant


async def test_bundle_records_are_read_patched_into_firestore_and_deleted_with_a_tombstone(
    stack, http, platform
):
    from common.store import records

    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    listed = await admin.get("/assistants")
    assert {a["id"] for a in listed.json()["items"]} == {"support-openai", "support-cohere", "support-gemini"}
    assert await records.get_record(tenant.id, "assistants", "support-cohere") is None

    patched = await admin.patch("/assistants/support-cohere", {"system_prompt": "Patched prompt."})
    assert patched.status_code == 200 and patched.json()["system_prompt"] == "Patched prompt."
    stored = await records.get_record(tenant.id, "assistants", "support-cohere")
    assert stored["system_prompt"] == "Patched prompt." and stored["_revision"] == 2
    history = (await admin.get("/assistants/support-cohere/revisions")).json()["items"]
    assert [(r["revision"], r["action"]) for r in history] == [(2, "update"), (1, "bundle")]
    assert "helpful support agent (cohere)" in history[1]["record"]["system_prompt"]

    assert (await admin.delete("/assistants/support-gemini")).status_code == 204
    assert (await records.get_record(tenant.id, "assistants", "support-gemini"))["_deleted"] is True
    assert (await admin.get("/assistants/support-gemini")).status_code == 404
    names = {a["id"] for a in (await admin.get("/assistants")).json()["items"]}
    assert names == {"support-openai", "support-cohere"}
    # The tombstone hides it from chat too.
    resp = await http.post("/start", json={"assistant": "support-gemini"}, headers=tenant.auth)
    for _ in range(30):
        if resp.status_code == 404:
            break
        import asyncio

        await asyncio.sleep(0.5)
        resp = await http.post("/start", json={"assistant": "support-gemini"}, headers=tenant.auth)
    assert resp.status_code == 404


async def test_revisions_and_rollback(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    shop = await _shop(stack, admin)
    aid = shop["assistant"]["id"]
    for prompt in ("Second.", "Third."):
        assert (await admin.patch(f"/assistants/{aid}", {"system_prompt": prompt})).status_code == 200
    unchanged = await admin.patch(f"/assistants/{aid}", {"system_prompt": "Third."})
    assert unchanged.status_code == 200
    history = (await admin.get(f"/assistants/{aid}/revisions")).json()["items"]
    assert [r["revision"] for r in history] == [3, 2, 1]
    assert [r["record"]["system_prompt"] for r in history] == ["Third.", "Second.", ""]
    assert history[0]["actor"] and history[2]["action"] == "create"

    page = await admin.get(f"/assistants/{aid}/revisions", params={"limit": 2})
    assert [r["revision"] for r in page.json()["items"]] == [3, 2]
    rest = await admin.get(
        f"/assistants/{aid}/revisions", params={"limit": 2, "page_token": page.json()["next_page_token"]}
    )
    assert [r["revision"] for r in rest.json()["items"]] == [1] and rest.json()["next_page_token"] is None

    rolled = await admin.post(f"/assistants/{aid}/rollback", {"revision": 2})
    assert rolled.status_code == 200 and rolled.json()["system_prompt"] == "Second."
    assert (await admin.get(f"/assistants/{aid}")).json()["system_prompt"] == "Second."
    latest = (await admin.get(f"/assistants/{aid}/revisions", params={"limit": 1})).json()["items"][0]
    assert (latest["revision"], latest["action"], latest["rolled_back_to"]) == (4, "rollback", 2)
    missing = await admin.post(f"/assistants/{aid}/rollback", {"revision": 99})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "revision"

    # Undo a delete: the history survives it.
    assert (await admin.delete(f"/assistants/{aid}")).status_code == 204
    restored = await admin.post(f"/assistants/{aid}/rollback", {"revision": 3})
    assert restored.status_code == 200 and restored.json()["system_prompt"] == "Third."
    assert (await admin.get(f"/assistants/{aid}")).status_code == 200


async def test_lists_paginate(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    for i in range(5):
        await admin.create("apps", {"id": f"app-{i}", "name": f"App {i}", "slug": f"app-{i}"})
    seen, token = [], None
    while True:
        params = {"limit": 2, **({"page_token": token} if token else {})}
        page = (await admin.get("/apps", params=params)).json()
        seen += [a["id"] for a in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == [f"app-{i}" for i in range(5)]
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"page_token": "!!"}, "page_token"),
    ):
        resp = await admin.get("/apps", params=params)
        assert resp.status_code == 422 and resp.json()["error"]["field"] == field


async def test_viewer_reads_but_cannot_write(stack, http, platform):
    from tests.admin.helpers import user_of

    tenant, admin = await tenant_with_admin(http, platform)
    await admin.create("apps", {"name": "Shop", "slug": "shop"})
    viewer = await user_of(http, platform, tenant, "tenant_viewer")
    assert len((await viewer.get("/apps")).json()["items"]) == 1
    resp = await viewer.post("/apps", {"name": "X", "slug": "x"})
    assert resp.status_code == 403 and resp.json()["error"]["type"] == "forbidden"


async def test_platform_admin_must_name_a_tenant_and_unknown_tenants_are_404(stack, http, platform):
    resp = await platform.get("/apps")
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "X-Tenant-Id"
    assert (await platform.get("/apps", tenant="t-does-not-exist")).status_code == 404
    tenant = (await platform.post("/tenants", {"name": "Gone"})).json()["id"]
    assert (await platform.get("/apps", tenant=tenant)).status_code == 200
    assert (await platform.delete(f"/tenants/{tenant}")).status_code == 204
    assert (await platform.get("/apps", tenant=tenant)).status_code == 404
    assert (await platform.get(f"/tenants/{tenant}")).status_code == 404
    assert (await platform.post("/tenants", {"id": tenant})).status_code == 409
