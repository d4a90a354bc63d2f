"""Tenant-scoped config records in Firestore: `tenants/{t}/{collection}/{id}`.

These are the runtime overlay on top of the GCS bundle. A record with
`_deleted: true` is a tombstone: it hides a bundle record of the same id.
"""

from __future__ import annotations

from typing import Any

from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection, tenant_doc
from common.store.errors import firestore_guard


async def list_records(tenant: str, collection: str) -> list[dict[str, Any]]:
    async with firestore_guard():
        docs = [d async for d in tenant_collection(tenant, collection).stream(timeout=RPC_TIMEOUT_S)]
    return [{**(d.to_dict() or {}), "id": d.id} for d in docs]


async def get_record(tenant: str, collection: str, ident: str) -> dict[str, Any] | None:
    async with firestore_guard():
        snap = await tenant_collection(tenant, collection).document(ident).get(timeout=RPC_TIMEOUT_S)
    return {**(snap.to_dict() or {}), "id": snap.id} if snap.exists else None


async def put_record(tenant: str, collection: str, ident: str, data: dict[str, Any]) -> None:
    body = {k: v for k, v in data.items() if k != "id"}
    async with firestore_guard():
        await tenant_collection(tenant, collection).document(ident).set(body, timeout=RPC_TIMEOUT_S)


async def get_tenant(tenant: str) -> dict[str, Any] | None:
    async with firestore_guard():
        snap = await tenant_doc(tenant).get(timeout=RPC_TIMEOUT_S)
    return {**(snap.to_dict() or {}), "id": snap.id} if snap.exists else None


async def put_tenant(tenant: str, data: dict[str, Any]) -> None:
    body = {k: v for k, v in data.items() if k != "id"}
    async with firestore_guard():
        await tenant_doc(tenant).set(body, merge=True, timeout=RPC_TIMEOUT_S)


async def ping(deadline_s: float) -> None:
    """A real round trip for /health: read one (possibly missing) document."""
    await get_db().collection("_health").document("ping").get(timeout=deadline_s)
