"""A per-tenant deployment (TENANT_ID set) reaches only its tenant; the first platform admin
comes from BOOTSTRAP_ADMIN_* on an empty database. Runs its own functions process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.admin.helpers import Admin, new_password
from tests.support.services import Service, start_functions


@pytest.fixture(scope="module")
def pinned(stack) -> Iterator[tuple[Service, dict[str, str]]]:
    env = {
        **stack.env,
        "GOOGLE_CLOUD_PROJECT": "pinned-" + secrets.token_hex(4),  # an empty emulator database
        "TENANT_ID": "t-pinned-" + secrets.token_hex(3),
        "BOOTSTRAP_ADMIN_USERNAME": "root-admin",
        "BOOTSTRAP_ADMIN_PASSWORD": new_password(),
    }
    svc = start_functions(env)
    yield svc, env
    svc.stop()


@pytest.fixture()
async def client(pinned) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pinned[0].url, timeout=30) as http:
        yield http


async def test_bootstrap_admin_logs_in_and_only_the_pinned_tenant_is_reachable(pinned, client):
    from google.cloud.firestore import AsyncClient

    from common.auth import passwords

    _, env = pinned
    tenant = env["TENANT_ID"]
    wrong = await client.post(
        "/admin/auth/login", json={"username": "root-admin", "password": "wrong-password!"}
    )
    assert wrong.status_code == 401
    resp = await client.post(
        "/admin/auth/login", json={"username": "root-admin", "password": env["BOOTSTRAP_ADMIN_PASSWORD"]}
    )
    assert resp.status_code == 200, resp.text
    admin = Admin(client, {"Authorization": f"Bearer {resp.json()['access_token']}"})
    assert (await admin.get("/auth/me")).json()["role"] == "platform_admin"

    other = await admin.post("/tenants", {"id": "t-elsewhere"})
    assert other.status_code == 403
    created = await admin.post("/tenants", {"id": tenant, "name": "Pinned"})
    assert created.status_code == 201, created.text
    assert [t["id"] for t in (await admin.get("/tenants")).json()["items"]] == [tenant]
    assert (await admin.get("/tenants/t-elsewhere")).status_code == 404

    # Without X-Tenant-Id the platform admin acts in the pinned tenant; another tenant is 404.
    app = await admin.post("/apps", {"name": "Shop", "slug": "shop"})
    assert app.status_code == 201, app.text
    assert (await admin.get("/apps", tenant=tenant)).json()["items"][0]["slug"] == "shop"
    assert (await admin.get("/apps", tenant="t-elsewhere")).status_code == 404

    # A user of another tenant cannot log in to this deployment.
    db = AsyncClient(project=env["GOOGLE_CLOUD_PROJECT"])
    password = new_password()
    await (
        db.collection("users")
        .document("u-other")
        .set(
            {
                "username": "other-admin",
                "role": "tenant_admin",
                "tenant_id": "t-elsewhere",
                "is_active": True,
                "password_hash": await passwords.hash_password(password),
            }
        )
    )
    await db.collection("usernames").document("other-admin").set({"user_id": "u-other"})
    refused = await client.post("/admin/auth/login", json={"username": "other-admin", "password": password})
    assert refused.status_code == 401
