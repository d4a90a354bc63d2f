"""Admin access tokens: JWT, short-lived, two kinds told apart by a pinned algorithm.

- Platform-admin tokens: EdDSA (Ed25519), `kid: platform`, issuer
  `assistants-platform`, signed with the platform private key
  (`common.auth.keys`). Every admin function verifies them with the public
  key alone, so no tenant identity can mint one.
- Tenant-user tokens: HS256, `kid: {tenant}`, audience
  `assistants-admin:{tenant}`, signed with that tenant's own key. A tenant's
  key can only vouch for its own tenant: a token whose claims name another
  tenant, or the role `platform_admin`, is refused whatever its signature.

The header's `alg` picks the kind and each kind accepts exactly one
algorithm with exactly one key type, so the classic confusions fail: `none`,
HS512, or an HS256 token "signed" with the public key's PEM never reach a
key that would accept them. A per-tenant deployment (`TENANT_ID`) refuses a
tenant token for any other tenant before reading a key.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from common.auth import keys
from common.auth.roles import PLATFORM_ADMIN, ROLES, Role
from common.config.ids import is_tenant_id
from common.errors import Unauthorized
from common.settings import get_settings

PLATFORM_ALGORITHM = "EdDSA"
TENANT_ALGORITHM = "HS256"
AUDIENCE = "assistants-admin"  # platform tokens; tenant tokens add `:{tenant}`
PLATFORM_ISSUER = "assistants-platform"
TENANT_ISSUER = "assistants-admin"
DEFAULT_TTL_S = 30 * 60
_REQUIRED = ["exp", "iat", "sub", "jti", "aud", "iss", "role"]


def token_ttl_s() -> int:
    """`ADMIN_TOKEN_TTL_S` (default 1800): how long a login lasts."""
    ttl = get_settings().admin_token_ttl_s
    return ttl if ttl > 0 else DEFAULT_TTL_S


def tenant_audience(tenant: str) -> str:
    return f"{AUDIENCE}:{tenant}"


@dataclass(frozen=True)
class Claims:
    sub: str
    role: Role
    tenant: str | None
    jti: str
    iat: int
    exp: int
    version: int


async def issue(user_id: str, role: Role, tenant: str | None, version: int = 0) -> tuple[str, int]:
    """A signed token for this user and its lifetime in seconds.

    Raises `keys.KeyNotReadable` when this deployment cannot sign for the
    user (a platform admin at a per-tenant admin, or the reverse).
    """
    ttl = token_ttl_s()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "tenant": tenant,
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
        "ver": version,
    }
    if role == PLATFORM_ADMIN:
        if tenant is not None:
            raise ValueError("platform admins belong to no tenant")
        claims |= {"aud": AUDIENCE, "iss": PLATFORM_ISSUER}
        private = await keys.platform_private_key()
        token = jwt.encode(claims, private, algorithm=PLATFORM_ALGORITHM, headers={"kid": keys.PLATFORM})
        return token, ttl
    if tenant is None or not is_tenant_id(tenant):
        raise ValueError("tenant users need a tenant")
    secret = await keys.tenant_signing_key(tenant, create=True)
    if secret is None:  # cannot happen with create=True, which creates or raises
        raise keys.KeyNotReadable(keys.tenant_signing_key_secret(tenant))
    claims |= {"aud": tenant_audience(tenant), "iss": TENANT_ISSUER}
    return jwt.encode(claims, secret, algorithm=TENANT_ALGORITHM, headers={"kid": tenant}), ttl


def _decode(token: str, key: Any, algorithm: str, audience: str, issuer: str) -> dict[str, Any]:
    try:
        return dict(
            jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                options={"require": _REQUIRED},
            )
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None


async def _platform_claims(token: str) -> dict[str, Any]:
    data = _decode(token, await keys.platform_public_key(), PLATFORM_ALGORITHM, AUDIENCE, PLATFORM_ISSUER)
    if data.get("role") != PLATFORM_ADMIN or data.get("tenant") is not None:
        raise Unauthorized("invalid token")
    return data


async def _tenant_claims(token: str, kid: object) -> dict[str, Any]:
    pinned = get_settings().tenant_id
    if not isinstance(kid, str) or not is_tenant_id(kid) or (pinned and kid != pinned):
        raise Unauthorized("invalid token")
    secret = await keys.tenant_signing_key(kid, create=False)  # None: absent or not ours to read
    if secret is None:
        raise Unauthorized("invalid token")
    data = _decode(token, secret, TENANT_ALGORITHM, tenant_audience(kid), TENANT_ISSUER)
    if data.get("tenant") != kid or data.get("role") == PLATFORM_ADMIN:
        raise Unauthorized("invalid token")
    return data


async def verify(token: str) -> Claims:
    """The token's claims, or 401 for anything that is not one of our two kinds, intact and unexpired."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg == PLATFORM_ALGORITHM and kid == keys.PLATFORM:
        data = await _platform_claims(token)
    elif alg == TENANT_ALGORITHM:
        data = await _tenant_claims(token, kid)
    else:
        raise Unauthorized("invalid token")
    role, tenant, version = data.get("role"), data.get("tenant"), data.get("ver", 0)
    if (
        role not in ROLES
        or not isinstance(data["sub"], str)
        or not (tenant is None or isinstance(tenant, str))
        or not isinstance(version, int)
    ):
        raise Unauthorized("invalid token")
    return Claims(data["sub"], role, tenant, str(data["jti"]), int(data["iat"]), int(data["exp"]), version)
