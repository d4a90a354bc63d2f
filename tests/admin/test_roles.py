"""Every admin route for every caller: platform_admin, tenant_admin, tenant_viewer, no token,
expired token. The table below is the contract; it must name every route the admin serves."""

from __future__ import annotations

import re
import time

from tests.admin import forge
from tests.admin.helpers import Admin, seed_user, user_of

# PUB: anyone. R: every role. W: platform_admin and tenant_admin. P: platform_admin only.
PUB, R, W, P = "public", "read", "write", "platform"
TABLE = {
    "POST /admin/auth/login": PUB,
    "GET /admin/openapi.json": PUB,
    "GET /admin/auth/me": R,
    "GET /admin/tenants": P,
    "POST /admin/tenants": P,
    "GET /admin/tenants/{id}": P,
    "PATCH /admin/tenants/{id}": P,
    "DELETE /admin/tenants/{id}": P,
    **{
        f"{method} /admin/{c}{suffix}": access
        for c in ("apps", "providers", "models", "credentials", "assistants", "tools", "users", "client-keys")
        for method, suffix, access in (
            ("GET", "", R),
            ("POST", "", W),
            ("GET", "/{id}", R),
            ("PATCH", "/{id}", W),
            ("DELETE", "/{id}", W),
        )
    },
    "GET /admin/providers/{id}/models": R,
    "GET /admin/apps/{id}/assistants": R,
    "GET /admin/assistants/{id}/revisions": R,
    "POST /admin/assistants/{id}/rollback": W,
    "POST /admin/providers/{id}/test": W,  # code providers: platform admins only (tests/sandbox)
    "GET /admin/providers/code/template": P,
    "POST /admin/providers/code/validate": P,
    "GET /admin/providers/{id}/code": P,
    "GET /admin/providers/{id}/revisions": P,
    "POST /admin/providers/{id}/rollback": P,
    "POST /admin/playground/chat": W,
    "GET /admin/usage": R,
    "GET /admin/audit": R,
    "GET /admin/config/export": R,
    "POST /admin/config/import": W,
}
ALLOWED = {
    "platform_admin": {PUB, R, W, P},
    "tenant_admin": {PUB, R, W},
    "tenant_viewer": {PUB, R},
    "no token": {PUB},
    "expired token": {PUB},
}


def test_the_table_names_every_admin_route():
    from common.admin.api.routes import OPS

    assert set(TABLE) == {f"{op.method} /admin{op.path}" for op in OPS}
    assert {op.access.value for op in OPS} == {PUB, R, W, P}
    for op in OPS:
        assert TABLE[f"{op.method} /admin{op.path}"] == op.access.value


async def test_role_by_route_matrix(stack, http, platform):
    from common.admin.api.routes import openapi_document

    tenant = (await platform.post("/tenants", {"name": "matrix"})).json()["id"]
    callers: dict[str, Admin] = {
        "platform_admin": Admin(http, platform.headers, tenant=tenant),
        "tenant_admin": await user_of(http, platform, tenant, "tenant_admin"),
        "tenant_viewer": await user_of(http, platform, tenant, "tenant_viewer"),
        "no token": Admin(http, {}),
    }
    _, _, admin_id = await seed_user("platform_admin")
    now = int(time.time())
    expired = forge.platform_token(
        await forge.platform_private_pem(), forge.claims(admin_id, iat=now - 3600, exp=now - 1)
    )
    callers["expired token"] = Admin(http, {"Authorization": f"Bearer {expired}"}, tenant=tenant)
    documented = openapi_document()["paths"]

    failures = []
    for route, access in TABLE.items():
        method, path = route.split(" ", 1)
        concrete = re.sub(r"\{id\}", "no-such-id", path)[len("/admin") :]
        spec = documented[path][method.lower()]["responses"]
        for role, caller in callers.items():
            kwargs = {"json": {}} if method in ("POST", "PATCH") else {}
            resp = await caller.call(method, concrete, **kwargs)
            allowed = access in ALLOWED[role]
            ok = resp.status_code < 500 and str(resp.status_code) in spec
            if allowed:
                ok = ok and resp.status_code not in (401, 403)
            else:
                ok = ok and resp.status_code == (401 if role in ("no token", "expired token") else 403)
            if resp.status_code >= 400:
                ok = ok and set(resp.json()["error"]) >= {"type", "message", "request_id"}
            if not ok:
                failures.append((route, role, resp.status_code, resp.text[:200]))
    assert not failures, failures
