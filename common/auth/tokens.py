"""Admin access tokens: JWT, HS256 only, short-lived.

The algorithm is pinned on both sides: a token whose header names anything
but HS256 (`none`, HS512, RS256 with our key as a "public key") is refused
before its signature is looked at. Tokens carry `aud`/`iss` so a JWT minted
for another purpose with the same platform key is not an admin token.

The signing key is the platform secret `platform__jwt__signing-key`. On GCP
`make bootstrap` creates it; with the local backend (make dev, tests) it is
created on first use, under a lock so one process never mints two.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from common.auth.roles import ROLES, Role
from common.errors import DependencyUnavailable, Unauthorized
from common.secrets import SecretNotFound, get_secrets
from common.settings import get_settings

ALGORITHM = "HS256"
SIGNING_KEY_SECRET = "platform__jwt__signing-key"  # noqa: S105 - a secret id, not its value
AUDIENCE = "assistants-admin"
ISSUER = "assistants-admin"
DEFAULT_TTL_S = 30 * 60
_REQUIRED = ["exp", "iat", "sub", "jti", "aud", "iss", "role"]
_lock: asyncio.Lock | None = None


def token_ttl_s() -> int:
    """`ADMIN_TOKEN_TTL_S` (default 1800): how long a login lasts."""
    ttl = get_settings().admin_token_ttl_s
    return ttl if ttl > 0 else DEFAULT_TTL_S


@dataclass(frozen=True)
class Claims:
    sub: str
    role: Role
    tenant: str | None
    jti: str
    iat: int
    exp: int
    version: int


async def signing_key() -> str:
    global _lock
    store = get_secrets()
    try:
        return await store.get(SIGNING_KEY_SECRET)
    except SecretNotFound:
        if get_settings().secrets_backend != "local":
            raise DependencyUnavailable(
                "the JWT signing key is missing; run `make bootstrap`", retry_after=30
            ) from None
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        try:
            return await store.get(SIGNING_KEY_SECRET)
        except SecretNotFound:
            await store.put(SIGNING_KEY_SECRET, secrets.token_urlsafe(48))
            store.invalidate(SIGNING_KEY_SECRET)
            return await store.get(SIGNING_KEY_SECRET)


async def issue(user_id: str, role: Role, tenant: str | None, version: int = 0) -> tuple[str, int]:
    """A signed token for this user and its lifetime in seconds."""
    ttl = token_ttl_s()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "tenant": tenant,
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "ver": version,
    }
    return jwt.encode(claims, await signing_key(), algorithm=ALGORITHM), ttl


async def verify(token: str) -> Claims:
    """The token's claims, or 401 for anything not signed by us with HS256 and unexpired."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("invalid token")
    try:
        data = jwt.decode(
            token,
            await signing_key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    role, tenant, version = data.get("role"), data.get("tenant"), data.get("ver", 0)
    if (
        role not in ROLES
        or not isinstance(data["sub"], str)
        or not (tenant is None or isinstance(tenant, str))
        or not isinstance(version, int)
    ):
        raise Unauthorized("invalid token")
    return Claims(data["sub"], role, tenant, str(data["jti"]), int(data["iat"]), int(data["exp"]), version)
