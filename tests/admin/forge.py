"""Tokens built by hand, as an attacker (or a test) holding one of our keys would build them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt


async def secret(name: str) -> str:
    """A key as stored in the test stack's local secrets file (the test process reads it too)."""
    from common.secrets import get_secrets

    store = get_secrets()
    store.invalidate()
    return await store.get(name)


async def platform_private_pem() -> str:
    from common.auth.keys import PLATFORM_PRIVATE_KEY_SECRET

    return await secret(PLATFORM_PRIVATE_KEY_SECRET)


async def platform_public_pem() -> str:
    from common.auth.keys import PLATFORM_PUBLIC_KEY_SECRET

    return await secret(PLATFORM_PUBLIC_KEY_SECRET)


async def tenant_key(tenant: str) -> str:
    from common.auth.keys import tenant_signing_key_secret

    return await secret(tenant_signing_key_secret(tenant))


def claims(user_id: str, **over: Any) -> dict[str, Any]:
    """Platform-admin claims by default; override any of them."""
    now = int(time.time())
    base = {
        "sub": user_id,
        "tenant": None,
        "role": "platform_admin",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        "aud": "assistants-admin",
        "iss": "assistants-platform",
    }
    return {**base, **over}


def tenant_claims(user_id: str, tenant: str, role: str = "tenant_admin", **over: Any) -> dict[str, Any]:
    return claims(
        user_id, tenant=tenant, role=role, aud=f"assistants-admin:{tenant}", iss="assistants-admin", **over
    )


def platform_token(private_pem: str, body: dict[str, Any]) -> str:
    return jwt.encode(body, private_pem, algorithm="EdDSA", headers={"kid": "platform"})


def tenant_token(key: str, tenant: str, body: dict[str, Any]) -> str:
    return jwt.encode(body, key, algorithm="HS256", headers={"kid": tenant})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hs256_raw(secret_text: str, header: dict[str, Any], body: dict[str, Any]) -> str:
    """HS256 with any bytes as the key (PyJWT itself refuses a PEM here; an attacker does not)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
    mac = hmac.new(secret_text.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def alg_none(header: dict[str, Any], body: dict[str, Any]) -> str:
    return f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{_b64(json.dumps(body).encode())}."
