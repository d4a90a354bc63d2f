"""Issue #9 item 6: no tenant key can mint a platform token, and no tenant's token works on another.

The shared stack reads every key (shared mode, as `make dev`). The per-tenant
deployment here runs with its own local secrets file that holds the platform
public key and nothing else: what a tenant's `admin` can read on GCP.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import httpx
import pytest

from tests.admin import forge
from tests.admin.helpers import Admin, login, new_password, seed_user, tenant_with_admin
from tests.support.services import start_functions


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(admin: Admin) -> str:
    return admin.headers["Authorization"].split()[1]


async def _id_of(admin: Admin) -> str:
    return str((await admin.get("/auth/me")).json()["id"])


async def _everywhere(http: httpx.AsyncClient, token: str, tenants: list[str]) -> list[int]:
    """Status of a platform route, a tenant-less route and a route in each tenant."""
    calls = [("/admin/tenants", None), ("/admin/auth/me", None), ("/admin/users", None)]
    calls += [(path, t) for t in tenants for path in ("/admin/apps", "/admin/users")]
    out = []
    for path, tenant in calls:
        headers = {**_bearer(token), **({"X-Tenant-Id": tenant} if tenant else {})}
        out.append((await http.get(path, headers=headers)).status_code)
    return out


def _forgeries(a_key: str, a: str, b: str, platform_id: str, b_admin_id: str) -> dict[str, str]:
    """Tokens signed with tenant A's key that claim more than tenant A."""
    return {
        "A kid, platform_admin in A": forge.tenant_token(
            a_key, a, forge.tenant_claims(platform_id, a, role="platform_admin")
        ),
        "A kid, platform claims": forge.tenant_token(a_key, a, forge.claims(platform_id)),
        "platform kid, HS256 with A's key": forge.tenant_token(a_key, "platform", forge.claims(platform_id)),
        "B kid, B's admin, A's key": forge.tenant_token(a_key, b, forge.tenant_claims(b_admin_id, b)),
        "A kid, B's admin": forge.tenant_token(a_key, a, forge.tenant_claims(b_admin_id, b)),
    }


async def test_a_tenant_key_cannot_mint_platform_or_other_tenant_tokens(stack, http, platform):
    a, a_admin = await tenant_with_admin(http, platform)
    b, b_admin = await tenant_with_admin(http, platform)
    platform_id, b_admin_id = await _id_of(platform), await _id_of(b_admin)
    a_key = await forge.tenant_key(a)

    for label, token in _forgeries(a_key, a, b, platform_id, b_admin_id).items():
        assert set(await _everywhere(http, token, [a, b])) == {401}, label

    # The control: a token A's key signed for A's own admin works in A.
    own = forge.tenant_token(a_key, a, forge.tenant_claims(await _id_of(a_admin), a))
    assert (await http.get("/admin/apps", headers=_bearer(own))).status_code == 200


async def test_a_tenant_admin_token_is_404_on_another_tenant(stack, http, platform):
    _, a_admin = await tenant_with_admin(http, platform)
    b, b_admin = await tenant_with_admin(http, platform)
    b_user = await _id_of(b_admin)
    assert (await a_admin.get("/apps", tenant=b)).status_code == 404
    assert (await a_admin.get(f"/users/{b_user}", tenant=b)).status_code == 404
    assert (await a_admin.get(f"/users/{b_user}")).status_code == 404
    assert (await a_admin.get("/tenants")).status_code == 403
    assert (await a_admin.get("/apps")).status_code == 200


def _public_only_secrets(tmp: Path, public_pem: str) -> Path:
    path = tmp / "tenant-secrets.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"secrets": {"platform__jwt__public-key": {"versions": [public_pem]}}}, f)
    return path


async def test_a_per_tenant_admin_without_the_private_key_accepts_platform_tokens_only_to_verify(
    stack, http, platform, tmp_path
):
    a = "t-keys-" + secrets.token_hex(3)
    assert (await platform.post("/tenants", {"id": a, "name": "Keys"})).status_code == 201
    b, b_admin = await tenant_with_admin(http, platform)
    files = _public_only_secrets(tmp_path, await forge.platform_public_pem())
    env = {
        **stack.env,
        "TENANT_ID": a,
        "LOCAL_SECRETS_FILE": str(files),
        "PLATFORM_ADMIN_URL": "https://platform-admin.example/admin",
    }
    svc = start_functions(env)
    try:
        async with httpx.AsyncClient(base_url=svc.url, timeout=30) as pinned:
            # Real platform tokens (minted by the shared admin) are accepted here.
            me = await pinned.get("/admin/auth/me", headers=platform.headers)
            assert me.status_code == 200 and me.json()["role"] == "platform_admin"
            assert (await pinned.get("/admin/apps", headers=platform.headers)).status_code == 200

            # But this deployment cannot sign one: a platform admin is told where to log in.
            username, password, platform_id = await seed_user("platform_admin")
            credentials = {"username": username, "password": password}
            refused = await pinned.post("/admin/auth/login", json=credentials)
            assert refused.status_code == 403, refused.text
            message = refused.json()["error"]["message"]
            assert "platform admin deployment" in message and env["PLATFORM_ADMIN_URL"] in message

            # Its own tenant's users log in and work here, with a key of this deployment.
            user, pw = "a-admin-" + secrets.token_hex(3), new_password()
            body = {"username": user, "password": pw, "role": "tenant_admin"}
            assert (await platform.post("/users", body, tenant=a)).status_code == 201
            a_admin = Admin(pinned, await login(pinned, user, pw))
            assert (await a_admin.get("/apps")).status_code == 200

            # Tenant B's real token, and A-key forgeries, are 401 here.
            assert (await pinned.get("/admin/auth/me", headers=b_admin.headers)).status_code == 401
            stored = json.loads(files.read_text())["secrets"]
            a_key = stored[f"{a}__jwt__signing-key"]["versions"][-1]
            forged = _forgeries(a_key, a, b, platform_id, await _id_of(b_admin))
            for label, token in forged.items():
                assert set(await _everywhere(pinned, token, [a])) == {401}, label

            # The private key never reached this deployment's secrets.
            assert set(stored) == {"platform__jwt__public-key", f"{a}__jwt__signing-key"}
    finally:
        svc.stop()


async def test_the_platform_slug_is_reserved(stack, http, platform):
    from pydantic import ValidationError

    from common.config.models import Tenant

    created = await platform.post("/tenants", {"id": "platform", "name": "Mine now"})
    assert created.status_code == 422 and created.json()["error"]["field"].startswith("id"), created.text
    assert (await platform.get("/apps", tenant="platform")).status_code == 404
    user = {"username": "p-" + secrets.token_hex(3), "password": new_password(), "role": "tenant_admin"}
    assert (await platform.post("/users", {**user, "tenant_id": "platform"})).status_code == 422
    with pytest.raises(ValidationError):
        Tenant.model_validate({"id": "platform"})


async def test_a_taken_username_409_names_no_other_tenant_data(stack, http, platform):
    a, a_admin = await tenant_with_admin(http, platform)
    _, b_admin = await tenant_with_admin(http, platform)
    name = "shared-" + secrets.token_hex(3)
    viewer = {"username": name, "password": new_password(), "role": "tenant_viewer"}
    mine = await a_admin.create("users", viewer)

    for body in (
        {"username": name.upper(), "password": new_password(), "role": "tenant_viewer"},
        {
            "id": mine["id"],
            "username": "fresh-" + secrets.token_hex(3),
            "password": new_password(),
            "role": "tenant_viewer",
        },
    ):
        resp = await b_admin.post("/users", body)
        assert resp.status_code == 409, resp.text
        error = resp.json()["error"]
        assert error["message"] in ("username taken", "username or id taken")
        for leak in (a, mine["id"], name):
            assert leak not in resp.text
