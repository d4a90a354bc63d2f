"""Tenant isolation: an admin of tenant A reaching for tenant B's records gets 404, and
B's records are unchanged afterwards."""

from __future__ import annotations

import secrets

from tests.admin.helpers import Admin, new_password, support_app, tenant_with_admin


async def _populate(admin: Admin, aimock: str) -> dict[str, str]:
    """One record of every kind in the admin's tenant; returns {collection: id}."""
    shop = await support_app(admin, aimock + "/v1", "sk-b-" + secrets.token_hex(8))
    app, provider, model, cred, assistant = (
        shop["app"],
        shop["provider"],
        shop["model"],
        shop["cred"],
        shop["assistant"],
    )
    tool = await admin.create("tools", {"name": "lookup", "url": "https://example.com/hook"})
    user = await admin.create(
        "users",
        {"username": "b-user-" + secrets.token_hex(3), "password": new_password(), "role": "tenant_viewer"},
    )
    key = await admin.create("client-keys", {"app_id": app["id"], "name": "b key"})
    return {
        "apps": app["id"],
        "providers": provider["id"],
        "models": model["id"],
        "credentials": cred["id"],
        "assistants": assistant["id"],
        "tools": tool["id"],
        "users": user["id"],
        "client-keys": key["id"],
    }


PATCHES = {
    "apps": {"name": "pwned"},
    "providers": {"display_name": "pwned"},
    "models": {"display_name": "pwned"},
    "credentials": {"name": "pwned", "value": "sk-attacker-0000000000"},
    "assistants": {"system_prompt": "pwned"},
    "tools": {"description": "pwned"},
    "users": {"full_name": "pwned"},
    "client-keys": {"is_active": False},
}


async def test_another_tenants_records_are_404_for_read_patch_and_delete(stack, http, platform):
    tenant_b, admin_b = await tenant_with_admin(http, platform)
    tenant_a, admin_a = await tenant_with_admin(http, platform)
    ids = await _populate(admin_b, stack.aimock.url)
    before = {c: (await admin_b.get(f"/{c}/{i}")).json() for c, i in ids.items()}

    attempts = []
    for collection, ident in ids.items():
        for extra in ({}, {"tenant": tenant_b}):  # own token, and naming B in X-Tenant-Id
            attempts += [
                await admin_a.get(f"/{collection}/{ident}", **extra),
                await admin_a.patch(f"/{collection}/{ident}", PATCHES[collection], **extra),
                await admin_a.delete(f"/{collection}/{ident}", **extra),
            ]
    for path in (
        f"/assistants/{ids['assistants']}/revisions",
        f"/providers/{ids['providers']}/models",
        f"/apps/{ids['apps']}/assistants",
    ):
        attempts.append(await admin_a.get(path))
    attempts.append(await admin_a.post(f"/assistants/{ids['assistants']}/rollback", {"revision": 1}))
    attempts.append(
        await admin_a.post(f"/providers/{ids['providers']}/test", {"credential_id": ids["credentials"]})
    )
    listed = await admin_a.get("/apps")
    assert listed.status_code == 200 and listed.json()["items"] == []
    wrong = [(r.request.method, str(r.request.url), r.status_code) for r in attempts if r.status_code != 404]
    assert not wrong, wrong
    for r in attempts:
        assert r.json()["error"]["type"] == "not_found"

    after = {c: (await admin_b.get(f"/{c}/{i}")).json() for c, i in ids.items()}
    assert after == before
    # The credential's key was not rotated by the attempt: its version is still the first.
    assert after["credentials"]["secret_version"] == before["credentials"]["secret_version"]
    # A's audit log recorded nothing for B's ids; B's has only B's own writes.
    audit_a = (await admin_a.get("/audit")).json()["items"]
    assert all(e["target_id"] not in ids.values() for e in audit_a)
    assert tenant_a != tenant_b
