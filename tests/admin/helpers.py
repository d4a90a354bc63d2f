"""Admin API helpers for the tests: seed a user, log in, build a tenant through HTTP."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD_LEN = 24


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(PASSWORD_LEN)


async def seed_user(
    role: str, tenant: str | None = None, password: str | None = None
) -> tuple[str, str, str]:
    """Write a user straight to Firestore (setup, as BOOTSTRAP_ADMIN_* would): (username, password, id)."""

    from common.auth import passwords, users
    from common.store.db import get_db

    password = password or new_password()
    username = f"{role.replace('_', '-')}-{secrets.token_hex(4)}"
    user = users.UserRecord(
        id=users.new_user_id(),
        username=username,
        role=role,  # type: ignore[arg-type]
        tenant_id=tenant,
        password_hash=await passwords.hash_password(password),
    )
    batch = get_db().batch()
    users.stage_create(batch, user)
    await batch.commit()
    return username, password, user.id


async def login(http: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    resp = await http.post("/admin/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    return {"Authorization": f"Bearer {body['access_token']}"}


@dataclass
class Admin:
    """One logged-in admin; `tenant` (platform admins) goes out as X-Tenant-Id."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    tenant: str | None = None
    seen: list[httpx.Response] = field(default_factory=list)

    def _headers(self, tenant: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        out = dict(self.headers)
        if tenant or self.tenant:
            out["X-Tenant-Id"] = tenant or self.tenant or ""
        return {**out, **(extra or {})}

    async def call(
        self,
        method: str,
        path: str,
        *,
        tenant: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        resp = await self.http.request(method, "/admin" + path, headers=self._headers(tenant, headers), **kw)
        self.seen.append(resp)
        return resp

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.call("POST", path, json=body if body is not None else {}, **kw)

    async def patch(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.call("PATCH", path, json=body, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.call("DELETE", path, **kw)

    async def create(self, collection: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        resp = await self.post(f"/{collection}", body, **kw)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())


async def platform_admin(http: httpx.AsyncClient) -> Admin:
    username, password, _ = await seed_user("platform_admin")
    return Admin(http, await login(http, username, password))


async def tenant_with_admin(
    http: httpx.AsyncClient, platform: Admin, role: str = "tenant_admin"
) -> tuple[str, Admin]:
    """A new tenant (through HTTP) and a logged-in user of it with `role`."""
    resp = await platform.post("/tenants", {"name": "Tenant " + secrets.token_hex(2)})
    assert resp.status_code == 201, resp.text
    tenant = resp.json()["id"]
    return tenant, await user_of(http, platform, tenant, role)


async def user_of(http: httpx.AsyncClient, platform: Admin, tenant: str, role: str) -> Admin:
    username, password = f"{role.replace('_', '-')}-{secrets.token_hex(4)}", new_password()
    resp = await platform.post(
        "/users", {"username": username, "password": password, "role": role}, tenant=tenant
    )
    assert resp.status_code == 201, resp.text
    return Admin(http, await login(http, username, password))


async def provider_set(
    admin: Admin, kind: str, base_url: str, key: str, upstream_model: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Provider, model and credential (with its key) for one vendor."""
    provider = await admin.create("providers", {"kind": kind, "name": kind, "base_url": base_url})
    model = await admin.create(
        "models", {"provider_id": provider["id"], "name": upstream_model, "max_tokens": 8000}
    )
    cred = await admin.create(
        "credentials", {"provider_id": provider["id"], "name": f"{kind} key", "value": key}
    )
    return provider, model, cred


async def poll(predicate: Any, timeout: float = 10.0, interval: float = 0.3) -> float:
    """Await `predicate()` until truthy; return the seconds it took (fails after `timeout`)."""
    import asyncio

    started = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(interval)


async def support_app(admin: Admin, base_url: str, key: str) -> dict[str, Any]:
    """App `shop` with a `support` assistant on OpenAI gpt-4o (provider, model, credential)."""
    app = await admin.create("apps", {"name": "Shop", "slug": "shop"})
    provider, model, cred = await provider_set(admin, "openai", base_url, key, "gpt-4o")
    assistant = await admin.create(
        "assistants",
        {
            "app_id": app["id"],
            "name": "Support",
            "slug": "support",
            "model_id": model["id"],
            "credential_id": cred["id"],
        },
    )
    return {"app": app, "provider": provider, "model": model, "cred": cred, "assistant": assistant}
