"""Who may touch code providers, the switch that turns them on, and code revisions."""

from __future__ import annotations

from tests.admin.helpers import Admin, platform_admin, user_of
from tests.sandbox.helpers import code_tenant

CODE = "async def stream(request):\n    yield 'v1'\n"


async def test_tenant_roles_get_403_on_create_code_and_test(code_stack, chttp, cplatform):
    t = await code_tenant(cplatform, code_stack.aimock.url, "anthropic")
    for role in ("tenant_admin", "tenant_viewer"):
        user: Admin = await user_of(chttp, cplatform, t.tenant, role)
        created = await user.post("/providers", {"kind": "code", "name": "x", "python_code": CODE})
        code = await user.get(f"/providers/{t.provider['id']}/code")
        tested = await user.post(f"/providers/{t.provider['id']}/test", {"credential_id": t.cred["id"]})
        template = await user.get("/providers/code/template?kind=anthropic")
        validated = await user.post("/providers/code/validate", {"python_code": CODE})
        # Steering the key elsewhere by editing the provider's config is a change of code provider.
        steered = await user.patch(
            f"/providers/{t.provider['id']}", {"config": {"base_url": "https://evil.test"}}
        )
        statuses = [r.status_code for r in (created, code, tested, template, validated, steered)]
        assert statuses == [403] * 6, (role, [r.text for r in (created, code, tested)])
        # The record is listed for them, but its source is not.
        shown = await user.get(f"/providers/{t.provider['id']}")
        assert shown.status_code == 200 and "async def" not in shown.text


async def test_create_is_refused_clearly_when_code_providers_are_off(stack, http):
    platform = await platform_admin(http)  # the main stack runs without ALLOW_CODE_PROVIDERS
    tenant = (await platform.post("/tenants", {"name": "Off"})).json()["id"]

    resp = await platform.post(
        "/providers", {"kind": "code", "name": "x", "python_code": CODE}, tenant=tenant
    )

    assert resp.status_code == 422
    assert (
        resp.json()["error"]["field"] == "kind" and "ALLOW_CODE_PROVIDERS" in resp.json()["error"]["message"]
    )


async def test_code_changes_are_revisions_with_rollback_and_audit(code_stack, chttp, cplatform):
    t = await code_tenant(cplatform, code_stack.aimock.url, "openai")
    original = (await t.admin.get(f"/providers/{t.provider['id']}/code")).json()["python_code"]
    changed = await t.admin.patch(f"/providers/{t.provider['id']}", {"python_code": CODE})
    assert changed.status_code == 200, changed.text

    history = (await t.admin.get(f"/providers/{t.provider['id']}/revisions")).json()["items"]
    assert [(r["revision"], r["action"]) for r in history] == [(2, "update"), (1, "create")]
    assert history[0]["record"]["python_code"] == CODE

    rolled = await t.admin.post(f"/providers/{t.provider['id']}/rollback", {"revision": 1})
    assert rolled.status_code == 200, rolled.text
    assert (await t.admin.get(f"/providers/{t.provider['id']}/code")).json()["python_code"] == original
    audit = (await t.admin.get("/audit")).json()["items"]
    actions = [(e["action"], e["collection"]) for e in audit if e.get("target_id") == t.provider["id"]]
    assert ("rollback", "providers") in actions and ("update", "providers") in actions, audit[:3]
