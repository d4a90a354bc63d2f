"""Client keys for apps calling start and chat.

Keys are 256-bit random tokens, so a fast SHA-256 is the right hash (a slow
hash protects low-entropy passwords, not these). The index document id is
the hash itself; the stored hash is still compared in constant time.
Lookups are cached for `client_key_ttl_s` (default 10 s), the SPEC's bound
on how long a revoked key may keep working on a warm instance.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.errors import Unauthorized
from common.settings import get_settings
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection
from common.store.errors import firestore_guard

KEY_PREFIX = "ak_"
INDEX = "client_key_index"
_MAX_CACHE = 10_000


@dataclass(frozen=True)
class ClientKey:
    tenant_id: str
    app_id: str
    key_id: str
    scopes: tuple[str, ...] = ()


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_client_key(
    tenant: str, app_id: str, name: str, scopes: list[str] | None = None, key_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """Store a new key (hash only) and return its record and the plaintext, shown once."""
    plaintext = generate_key()
    digest = hash_key(plaintext)
    kid = key_id or "ck_" + secrets.token_hex(8)
    record = {
        "app_id": app_id,
        "name": name,
        "prefix": plaintext[:10],
        "scopes": scopes or ["chat"],
        "is_active": True,
        "created_at": datetime.now(UTC),
        "last_used_at": None,
        "key_hash": digest,
    }
    batch = get_db().batch()
    batch.create(tenant_collection(tenant, "client_keys").document(kid), record)
    batch.create(
        get_db().collection(INDEX).document(digest),
        {
            "tenant_id": tenant,
            "app_id": app_id,
            "key_id": kid,
            "key_hash": digest,
            "is_active": True,
            "scopes": record["scopes"],
        },
    )
    async with firestore_guard():
        await batch.commit(timeout=RPC_TIMEOUT_S)
    public = {k: v for k, v in record.items() if k != "key_hash"}
    return {"id": kid, **public}, plaintext


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, ClientKey | None]] = {}
        self._touched: dict[str, float] = {}

    def get(self, digest: str, ttl: float) -> tuple[bool, ClientKey | None]:
        hit = self._entries.get(digest)
        if hit and time.monotonic() - hit[0] < ttl:
            return True, hit[1]
        return False, None

    def put(self, digest: str, value: ClientKey | None) -> None:
        if len(self._entries) >= _MAX_CACHE:
            self._entries.pop(next(iter(self._entries)))
        self._entries[digest] = (time.monotonic(), value)

    def clear(self) -> None:
        self._entries.clear()


_cache = KeyCache()
_background: set[asyncio.Task[None]] = set()


async def authenticate(plaintext: str) -> ClientKey:
    settings = get_settings()
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        raise Unauthorized("invalid client key")
    digest = hash_key(plaintext)
    # Unknown keys are cached briefly too, so a flood of bad keys costs no reads.
    cached, key = _cache.get(digest, settings.client_key_ttl_s)
    if not cached:
        async with firestore_guard():
            snap = await get_db().collection(INDEX).document(digest).get(timeout=RPC_TIMEOUT_S)
        data = snap.to_dict() if snap.exists else None
        key = None
        if data and data.get("is_active") and hmac.compare_digest(str(data.get("key_hash", "")), digest):
            key = ClientKey(
                data["tenant_id"], data["app_id"], data["key_id"], tuple(data.get("scopes") or ())
            )
        _cache.put(digest, key)
    if key is None:
        raise Unauthorized("invalid client key")
    if settings.tenant_id and key.tenant_id != settings.tenant_id:
        raise Unauthorized("invalid client key")
    _touch_later(key)
    return key


def _touch_later(key: ClientKey) -> None:
    """Record last_used_at at most once a minute per key, off the request path."""
    now = time.monotonic()
    if now - _cache._touched.get(key.key_id, 0.0) < 60:
        return
    _cache._touched[key.key_id] = now

    async def touch() -> None:
        try:
            ref = tenant_collection(key.tenant_id, "client_keys").document(key.key_id)
            await ref.update({"last_used_at": datetime.now(UTC)}, timeout=RPC_TIMEOUT_S)
        except Exception:  # noqa: S110 - best effort; usage stamps never fail a request
            pass

    task = asyncio.get_running_loop().create_task(touch())
    _background.add(task)
    task.add_done_callback(_background.discard)


def clear_cache() -> None:
    _cache.clear()


def stage_client_key_state(
    batch: Any,
    tenant: str,
    key_id: str,
    key_hash: str,
    app_id: str,
    *,
    is_active: bool,
    scopes: list[str],
    fields: dict[str, Any],
) -> None:
    """Stage a change of a key's record and its index entry in one batch (admin revoke/restore).

    The index document is what `authenticate` reads, so flipping `is_active`
    there is what makes a revoked key fail: at once on this instance (call
    `clear_cache()` after the commit), within `client_key_ttl_s` (10 s) on
    every other instance, whose cached lookup expires by then.
    """
    batch.update(tenant_collection(tenant, "client_keys").document(key_id), fields)
    if not key_hash:  # no index entry to keep in step: such a key never authenticated
        return
    batch.set(
        get_db().collection(INDEX).document(key_hash),
        {
            "tenant_id": tenant,
            "app_id": app_id,
            "key_id": key_id,
            "key_hash": key_hash,
            "is_active": is_active,
            "scopes": scopes,
        },
    )
