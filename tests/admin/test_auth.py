"""Login, JWT pinning and expiry, password storage and login timing, bootstrap."""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
import uuid

import jwt
import pytest

from tests.admin import forge
from tests.admin.helpers import login, new_password, seed_user


async def test_login_issues_pinned_tokens_with_the_spec_claims(stack, http, platform):
    from tests.admin.helpers import tenant_with_admin

    username, password, user_id = await seed_user("platform_admin")
    resp = await http.post("/admin/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 30 * 60
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"] == "platform"
    assert {"sub", "tenant", "role", "jti", "iat", "exp"} <= set(claims)
    assert claims["sub"] == user_id and claims["role"] == "platform_admin" and claims["tenant"] is None
    assert claims["exp"] - claims["iat"] == 1800
    me = await http.get("/admin/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == username

    # A tenant user's token: HS256 under the tenant's own key, audience bound to the tenant.
    tenant, admin = await tenant_with_admin(http, platform)
    token = admin.headers["Authorization"].split()[1]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256" and header["kid"] == tenant
    assert claims["aud"] == f"assistants-admin:{tenant}" and claims["tenant"] == tenant
    jwt.decode(token, await forge.tenant_key(tenant), algorithms=["HS256"], audience=claims["aud"])


async def test_forged_expired_and_tampered_tokens_are_401(stack, http):
    username, password, user_id = await seed_user("tenant_viewer", tenant="t-none")
    good = (await login(http, username, password))["Authorization"].split()[1]
    admin_user, admin_pw, admin_id = await seed_user("platform_admin")
    await login(http, admin_user, admin_pw)
    key = await forge.platform_private_pem()
    public = await forge.platform_public_pem()
    tenant_key = await forge.tenant_key("t-none")

    header_b64, payload_b64, sig = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload["role"] = "platform_admin"
    tampered_payload = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    now = int(time.time())

    def signed(**over) -> str:
        return forge.platform_token(key, forge.claims(admin_id, **over))

    forged = {
        "alg none": forge.alg_none({"kid": "platform"}, forge.claims(admin_id)),
        "alg none via PyJWT": jwt.encode(forge.claims(admin_id), key=None, algorithm="none"),
        "another key": forge.platform_token(forge_key(), forge.claims(admin_id)),
        "HS256 with the public key": forge.hs256_raw(
            public, {"alg": "HS256", "kid": "platform"}, forge.claims(admin_id)
        ),
        "HS256 with the public key, tenant kid": forge.hs256_raw(
            public, {"alg": "HS256", "kid": "t-none"}, forge.tenant_claims(user_id, "t-none")
        ),
        "HS512 with a tenant key": jwt.encode(
            forge.tenant_claims(user_id, "t-none"), tenant_key, algorithm="HS512", headers={"kid": "t-none"}
        ),
        "expired": signed(iat=now - 4000, exp=now - 10),
        "tampered payload": f"{header_b64}.{tampered_payload}.{sig}",
        "no exp": forge.platform_token(key, {k: v for k, v in forge.claims(admin_id).items() if k != "exp"}),
        "wrong audience": signed(aud="chat"),
        "tenant issuer": signed(iss="assistants-admin"),
        "no kid": jwt.encode(forge.claims(admin_id), key, algorithm="EdDSA"),
        "unknown user": signed(sub="u-doesnotexist"),
        "role not the user's": signed(sub=user_id),
        "garbage": "not.a.jwt",
    }
    for label, token in forged.items():
        resp = await http.get("/admin/tenants", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, (label, resp.text)
        assert resp.json()["error"]["type"] == "unauthorized"
    # The control: a correctly signed token for the same user works.
    ok = signed()
    assert (await http.get("/admin/tenants", headers={"Authorization": f"Bearer {ok}"})).status_code == 200


def forge_key() -> str:
    from common.auth.keys import generate_platform_keypair

    return generate_platform_keypair()[0]


async def test_passwords_are_argon2id_and_wrong_logins_take_as_long_as_right_ones(stack, http):
    from common.auth.users import get_by_username

    username, password, _ = await seed_user("platform_admin")
    stored = await get_by_username(username)
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert password not in stored.password_hash

    async def timed(user: str, pw: str, status: int) -> float:
        started = time.perf_counter()
        resp = await http.post("/admin/auth/login", json={"username": user, "password": pw})
        assert resp.status_code == status, resp.text
        return time.perf_counter() - started

    right, wrong, unknown = [], [], []
    for _ in range(5):
        right.append(await timed(username, password, 200))
        wrong.append(await timed(username, password + "x", 401))
        unknown.append(await timed("nobody-" + uuid.uuid4().hex[:8], password, 401))
    m_right, m_wrong, m_unknown = (statistics.median(x) for x in (right, wrong, unknown))
    for other in (m_wrong, m_unknown):
        assert m_right / 3 <= other <= m_right * 3, (m_right, m_wrong, m_unknown)
    bad = await http.post("/admin/auth/login", json={"username": username, "password": "x"})
    assert bad.json()["error"]["message"] == "invalid username or password"


async def test_deactivated_user_and_changed_password_end_existing_tokens(stack, http, platform):
    username, password, user_id = await seed_user("platform_admin")
    headers = await login(http, username, password)
    assert (await http.get("/admin/auth/me", headers=headers)).status_code == 200
    new = new_password()
    resp = await platform.patch(f"/users/{user_id}", {"password": new})
    assert resp.status_code == 200, resp.text
    assert (await http.get("/admin/auth/me", headers=headers)).status_code == 401
    headers = await login(http, username, new)
    resp = await platform.patch(f"/users/{user_id}", {"is_active": False})
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert (await http.get("/admin/auth/me", headers=headers)).status_code == 401
    login_again = await http.post("/admin/auth/login", json={"username": username, "password": new})
    assert login_again.status_code == 401


@pytest.mark.parametrize("body", [{}, {"username": "a"}, {"username": "a", "password": "b", "x": 1}])
async def test_login_body_is_validated(stack, http, body):
    resp = await http.post("/admin/auth/login", json=body)
    assert resp.status_code == 422


async def test_bootstrap_admin_is_created_only_from_the_environment_and_only_when_no_user_exists(stack):
    """In the test process, against a fresh (empty) emulator project."""
    from common.auth import users
    from common.errors import Unauthorized
    from common.settings import get_settings
    from common.store.db import reset_db

    saved = {
        k: os.environ.get(k)
        for k in ("GOOGLE_CLOUD_PROJECT", "BOOTSTRAP_ADMIN_USERNAME", "BOOTSTRAP_ADMIN_PASSWORD")
    }
    os.environ["GOOGLE_CLOUD_PROJECT"] = "bootstrap-" + uuid.uuid4().hex[:8]
    get_settings.cache_clear()
    reset_db()
    try:
        os.environ.pop("BOOTSTRAP_ADMIN_USERNAME", None)
        os.environ.pop("BOOTSTRAP_ADMIN_PASSWORD", None)
        users.reset_bootstrap()
        for guess in (("admin", "admin"), ("admin", "password"), ("root", "root")):
            with pytest.raises(Unauthorized):
                await users.login(*guess)
        assert not await users.any_user_exists()  # no default credentials

        password = new_password()
        os.environ["BOOTSTRAP_ADMIN_USERNAME"] = "First.Admin"
        os.environ["BOOTSTRAP_ADMIN_PASSWORD"] = password
        users.reset_bootstrap()
        token, ttl = await users.login("first.admin", password)
        assert token and ttl == 1800
        first = await users.get_by_username("first.admin")
        assert first is not None and first.role == "platform_admin" and first.tenant_id is None

        # Users exist now: another bootstrap identity is not created.
        os.environ["BOOTSTRAP_ADMIN_USERNAME"] = "second-admin"
        users.reset_bootstrap()
        with pytest.raises(Unauthorized):
            await users.login("second-admin", password)
        assert await users.get_by_username("second-admin") is None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        users.reset_bootstrap()
        get_settings.cache_clear()
        reset_db()


async def test_login_with_unencodable_text_is_refused_not_a_500(stack, http):
    body = b'{"username": "\\ud800admin", "password": "\\udfff-password-x"}'
    resp = await http.post("/admin/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code in (401, 422)
