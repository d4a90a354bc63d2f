"""`Idempotency-Key` on `POST /chat` and `/v1/chat/completions` (SPEC §8).

The first request with a key claims it by *creating* a Firestore document
(atomic: a second create fails), runs, and stores its response. A replay with
the same body gets the stored response without a second upstream call; the
same key with a different body is 422; a replay while the first still runs is
409. Outcomes a retry could change (5xx, 429, 409) release the key instead of
being stored.
Keys are scoped to the client key and expire after 24 h (`expires_at`, for a
Firestore TTL policy).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import Conflict, ValidationFailed
from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard

TTL = timedelta(hours=24)
MAX_STORED_BYTES = 900_000  # under Firestore's 1 MiB document limit
HEADER = "idempotency-key"
RETRYABLE = (408, 409, 429)  # outcomes a retry with the same key may change


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


async def claim(tenant: str, client_key_id: str, key: str, route: str, payload: Any) -> Claim | Stored:
    """Claim `key` for this request, or return the stored response of an earlier one."""
    from google.api_core.exceptions import AlreadyExists

    if not key or len(key) > 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    doc_id = hashlib.sha256(f"{client_key_id}\0{route}\0{key}".encode()).hexdigest()
    request_hash = fingerprint(payload)
    now = datetime.now(UTC)
    ref = _doc(tenant, doc_id)
    try:
        async with firestore_guard():
            record = {
                "request_hash": request_hash,
                "state": "running",
                "created_at": now,
                "expires_at": now + TTL,
            }
            await ref.create(record, timeout=RPC_TIMEOUT_S)
        return Claim(tenant, doc_id)
    except AlreadyExists:
        pass
    async with firestore_guard():
        snap = await ref.get(timeout=RPC_TIMEOUT_S)
    data = snap.to_dict() or {}
    if data.get("request_hash") != request_hash:
        raise ValidationFailed(
            "this Idempotency-Key was used with a different request body", field="Idempotency-Key"
        )
    if data.get("state") != "done":
        raise Conflict("a request with this Idempotency-Key is still running")
    return Stored(int(data["status"]), bytes(data["body"]), str(data["media_type"]))


async def finish(c: Claim, status: int, body: bytes, media_type: str) -> None:
    """Store the outcome; release the key when a retry could succeed (5xx) or it is too big."""
    ref = _doc(c.tenant, c.doc_id)
    async with firestore_guard():
        if status >= 500 or status in RETRYABLE or len(body) > MAX_STORED_BYTES:
            await ref.delete(timeout=RPC_TIMEOUT_S)
        else:
            outcome = {"state": "done", "status": status, "body": body, "media_type": media_type}
            await ref.update(outcome, timeout=RPC_TIMEOUT_S)
