"""JWT keys: one asymmetric platform key pair, one HMAC key per tenant.

Why two kinds. Tenant code and tenant functions run as their tenant's
identity; if that identity could read a key that signs platform-admin
tokens, any tenant could become platform admin. So:

- `platform__jwt__private-key` (Ed25519, PKCS#8 PEM) signs platform-admin
  tokens. Only the platform admin's identity reads it (on GCP the separate
  platform-admin deployment of `admin`, service account
  `assistants-platform-admin`).
- `platform__jwt__public-key` (SubjectPublicKeyInfo PEM) verifies them;
  every `admin` function reads it. It cannot sign anything.
- `{tenant}__jwt__signing-key` (HS256, 48 random bytes, url-safe base64)
  signs and verifies that tenant's users' tokens; only that tenant's `admin`
  reads it, so a tenant's key can only ever vouch for its own tenant.

Who creates them. Locally (make dev, tests: `SECRETS_BACKEND=local`) a
missing key is created on first use, under an asyncio lock and an flock next
to the secrets file, so concurrent processes never mint two different keys.
A process that can read the public key but not the private one (a per-tenant
deployment) never creates a pair: the private half lives elsewhere. On GCP
nothing is created at run time (instances would race, and tenant identities
must not write platform secrets): `make bootstrap` stores the pair made by
`generate_platform_keypair()`, a tenant's deploy stores
`generate_tenant_signing_key()` under `tenant_signing_key_secret(tenant)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from common.config.ids import RESERVED_TENANT_IDS, is_slug
from common.errors import DependencyUnavailable
from common.secrets import SecretNotFound, get_secrets, secret_id
from common.settings import get_settings

PLATFORM = "platform"
PLATFORM_PRIVATE_KEY_SECRET = "platform__jwt__private-key"  # noqa: S105 - a secret id, not its value
PLATFORM_PUBLIC_KEY_SECRET = "platform__jwt__public-key"  # noqa: S105 - a secret id, not its value
_TENANT_KEY_KIND, _TENANT_KEY_ID = "jwt", "signing-key"
ABSENT_TTL_S = 30.0
_MAX_ABSENT = 10_000
_lock: asyncio.Lock | None = None
_absent: OrderedDict[str, float] = OrderedDict()  # secret id -> until when it counts as absent


class KeyNotReadable(Exception):
    """This process's identity cannot read the key (it belongs to another deployment)."""


def tenant_signing_key_secret(tenant: str) -> str:
    """`{tenant}__jwt__signing-key`; refuses reserved or malformed tenant ids."""
    if not is_slug(tenant) or tenant in RESERVED_TENANT_IDS:
        raise ValueError(f"not a tenant id: {tenant!r}")
    return secret_id(tenant, _TENANT_KEY_KIND, _TENANT_KEY_ID)


def generate_platform_keypair() -> tuple[str, str]:
    """A new Ed25519 pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private_pem, _public_pem(private)


def generate_tenant_signing_key() -> str:
    """A new HS256 key for one tenant (384 random bits, url-safe text)."""
    return secrets.token_urlsafe(48)


def _public_pem(private: Ed25519PrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@lru_cache(maxsize=8)
def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the platform private key is not an Ed25519 key")
    return key


@lru_cache(maxsize=8)
def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the platform public key is not an Ed25519 key")
    return key


def _local() -> bool:
    return get_settings().secrets_backend == "local"


async def _read(secret: str) -> str | None:
    """The secret's value; None when it does not exist; KeyNotReadable when IAM says no."""
    from google.api_core.exceptions import PermissionDenied

    try:
        return await get_secrets().get(secret)
    except SecretNotFound:
        return None
    except PermissionDenied:
        raise KeyNotReadable(secret) from None


@contextlib.asynccontextmanager
async def _creation_lock() -> AsyncIterator[None]:
    """One creator at a time: in this process (asyncio) and across processes (flock)."""
    global _lock
    if _lock is None:
        _lock = asyncio.Lock()
    path = get_settings().local_secrets_file.expanduser()
    lock_path = path.parent / f".{path.name}.jwt-keys.lock"

    def acquire() -> int:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    async with _lock:
        fd = await asyncio.to_thread(acquire)
        try:
            get_secrets().invalidate(PLATFORM_PRIVATE_KEY_SECRET)
            get_secrets().invalidate(PLATFORM_PUBLIC_KEY_SECRET)
            yield
        finally:
            os.close(fd)  # releases the flock


async def _create_platform_pair() -> tuple[str, str]:
    """Local only: the pair, created if absent (the public half derived if only it is missing)."""
    async with _creation_lock():
        private_pem = await _read(PLATFORM_PRIVATE_KEY_SECRET)
        public_pem = await _read(PLATFORM_PUBLIC_KEY_SECRET)
        if private_pem is None and public_pem is not None:
            raise KeyNotReadable(PLATFORM_PRIVATE_KEY_SECRET)
        if private_pem is None:
            private_pem, public_pem = generate_platform_keypair()
            await get_secrets().put(PLATFORM_PRIVATE_KEY_SECRET, private_pem)
        if public_pem is None:
            public_pem = _public_pem(load_private_key(private_pem))
            await get_secrets().put(PLATFORM_PUBLIC_KEY_SECRET, public_pem)
        return private_pem, public_pem


def _remember_absent(secret: str) -> None:
    _absent[secret] = time.monotonic() + ABSENT_TTL_S
    _absent.move_to_end(secret)
    while len(_absent) > _MAX_ABSENT:
        _absent.popitem(last=False)


def _missing(what: str, fix: str) -> DependencyUnavailable:
    return DependencyUnavailable(f"the {what} is missing; {fix}", retry_after=30)


async def platform_private_key() -> Ed25519PrivateKey:
    """The key that signs platform-admin tokens; KeyNotReadable in a deployment that has no access."""
    pem = await _read(PLATFORM_PRIVATE_KEY_SECRET)
    if pem is None:
        if not _local():
            # On GCP a missing and a forbidden secret are told apart by Secret Manager;
            # here it is missing: the platform was not bootstrapped.
            raise _missing("platform JWT private key", "run `make bootstrap`")
        pem, _ = await _create_platform_pair()
    return load_private_key(pem)


async def platform_public_key() -> Ed25519PublicKey:
    """The key that verifies platform-admin tokens (every admin function can read it)."""
    try:
        pem = await _read(PLATFORM_PUBLIC_KEY_SECRET)
    except KeyNotReadable:
        raise _missing("platform JWT public key", "grant this function read access to it") from None
    if pem is None:
        if not _local():
            raise _missing("platform JWT public key", "run `make bootstrap`")
        try:
            _, pem = await _create_platform_pair()
        except KeyNotReadable:  # public-only deployment whose public key vanished meanwhile
            raise _missing("platform JWT public key", "copy it from the platform") from None
    return load_public_key(pem)


async def tenant_signing_key(tenant: str, *, create: bool) -> str | None:
    """The tenant's HS256 key; None when absent and not created (`create` only takes effect locally).

    Verification passes `create=False`: a token naming a tenant never makes a key
    exist, and a tenant whose key is absent or unreadable here is remembered for
    `ABSENT_TTL_S`, so replaying a token with a bogus `kid` costs no Secret Manager call.
    """
    secret = tenant_signing_key_secret(tenant)
    if not create:
        if _absent.get(secret, 0.0) > time.monotonic():
            return None
        try:
            value = await _read(secret)
        except KeyNotReadable:
            value = None
        if value is None:
            _remember_absent(secret)
        return value
    _absent.pop(secret, None)
    value = await _read(secret)
    if value is not None:
        return value
    if not _local():
        raise _missing(f"signing key of tenant {tenant!r}", "deploy the tenant (its deploy creates the key)")
    async with _creation_lock():
        get_secrets().invalidate(secret)
        value = await _read(secret)
        if value is None:
            value = generate_tenant_signing_key()
            await get_secrets().put(secret, value)
        return value
