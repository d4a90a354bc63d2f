"""`Idempotency-Key` on `POST /chat` and `/v1/chat/completions` (SPEC §8).

The first request with a key claims it by *creating* a Firestore document
(atomic: a second create fails), runs, and stores its response. A replay with
the same body gets the stored response without a second upstream call; the
same key with a different body is 422; a replay while the first still runs is
409. Outcomes a retry could change (5xx, 429, 409) release the key instead of
being stored.

A running claim is a lease that ends shortly after the turn deadline
(`TURN_DEADLINE_S`): an instance that died or lost Firestore mid-turn cannot
hold the key for ever; once the lease is over the next request with the key
takes it over (a precondition on the document's update time lets one taker
win). Keys are scoped to the client key and expire after 24 h (`expires_at`,
for a Firestore TTL policy); since TTL deletion is lazy, an expired record is
treated as absent when read. Storing the outcome is retried; if it still
fails the lease releases the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import Conflict, DependencyUnavailable, ValidationFailed
from common.logging import get_logger, log
from common.settings import get_settings
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection
from common.store.errors import firestore_guard

TTL = timedelta(hours=24)
MAX_STORED_BYTES = 900_000  # under Firestore's 1 MiB document limit
HEADER = "idempotency-key"
RETRYABLE = (408, 409, 429)  # outcomes a retry with the same key may change
STORE_ATTEMPTS = 3
_log = get_logger("chat")


@dataclass(frozen=True)
class Stored:
    status: int
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Claim:
    tenant: str
    doc_id: str


def _doc(tenant: str, doc_id: str) -> Any:
    return tenant_collection(tenant, "idempotency").document(doc_id)


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def lease_s() -> float:
    """How long a running claim holds the key: the turn deadline plus time to store the reply."""
    settings = get_settings()
    return settings.turn_deadline_s + 2 * settings.firestore_deadline_s + 5


def _available(data: dict[str, Any], now: datetime) -> bool:
    """Whether a stored record no longer holds its key (expired, or a lapsed running lease)."""
    expires = data.get("expires_at")
    if isinstance(expires, datetime) and expires <= now:
        return True
    if data.get("state") == "done":
        return False
    lease = data.get("lease_until")
    if not isinstance(lease, datetime):  # written before leases: count from its creation
        created = data.get("created_at")
        lease = created + timedelta(seconds=lease_s()) if isinstance(created, datetime) else None
    return lease is not None and lease <= now


async def claim(tenant: str, client_key_id: str, key: str, route: str, payload: Any) -> Claim | Stored:
    """Claim `key` for this request, or return the stored response of an earlier one."""
    from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

    if not key or len(key) > 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    doc_id = hashlib.sha256(f"{client_key_id}\0{route}\0{key}".encode()).hexdigest()
    request_hash = fingerprint(payload)
    now = datetime.now(UTC)
    ref = _doc(tenant, doc_id)
    record = {
        "request_hash": request_hash,
        "state": "running",
        "created_at": now,
        "lease_until": now + timedelta(seconds=lease_s()),
        "expires_at": now + TTL,
    }
    try:
        async with firestore_guard():
            await ref.create(record, timeout=RPC_TIMEOUT_S)
        return Claim(tenant, doc_id)
    except AlreadyExists:
        pass
    async with firestore_guard():
        snap = await ref.get(timeout=RPC_TIMEOUT_S)
    data = snap.to_dict() or {}
    if snap.exists and _available(data, now):
        # Take the key over; of two takers, the precondition lets one win.
        try:
            async with firestore_guard():
                option = get_db().write_option(last_update_time=snap.update_time)
                await ref.delete(option=option, timeout=RPC_TIMEOUT_S)
                await ref.create(record, timeout=RPC_TIMEOUT_S)
            return Claim(tenant, doc_id)
        except (AlreadyExists, FailedPrecondition, NotFound):
            raise Conflict("a request with this Idempotency-Key is still running") from None
    if data.get("request_hash") != request_hash:
        raise ValidationFailed(
            "this Idempotency-Key was used with a different request body", field="Idempotency-Key"
        )
    if data.get("state") != "done":
        raise Conflict("a request with this Idempotency-Key is still running")
    return Stored(int(data["status"]), bytes(data["body"]), str(data["media_type"]))


async def finish(c: Claim, status: int, body: bytes, media_type: str) -> None:
    """Store the outcome; release the key when a retry could succeed (5xx) or it is too big.

    Retried; when Firestore still refuses, the claim's lease releases the key later,
    so this never fails the (already answered) request.
    """
    ref = _doc(c.tenant, c.doc_id)
    release = status >= 500 or status in RETRYABLE or len(body) > MAX_STORED_BYTES
    for attempt in range(STORE_ATTEMPTS):
        try:
            async with firestore_guard():
                if release:
                    await ref.delete(timeout=RPC_TIMEOUT_S)
                else:
                    outcome = {"state": "done", "status": status, "body": body, "media_type": media_type}
                    await ref.update(outcome, timeout=RPC_TIMEOUT_S)
            return
        except DependencyUnavailable:
            if attempt + 1 < STORE_ATTEMPTS:
                await asyncio.sleep(0.2 * 2**attempt)
    log(_log, logging.WARNING, "idempotency outcome not stored; the lease releases the key", tenant=c.tenant)
