"""Revision history of assistants and code providers: every stored version, and rollback.

Revision n lives at `tenants/{t}/{collection}/{id}/revisions/{n}` with the full
record. Each admin write of an assistant stages the next revision in the same
batch as the record, with `create`, so two concurrent writes cannot both
claim revision n (the loser gets 409 and retries). An assistant that was
never written through the admin API (bundle-only, or seeded straight into
Firestore) has no history yet: its first admin write records the version it
replaces as revision 1 (`action: "bundle"` or `"initial"`).
"""

from __future__ import annotations

from typing import Any, cast

from starlette.responses import Response

from common.admin.api.context import Call, encode_token, iso
from common.admin.api.schemas import RollbackRequest
from common.admin.records import integrity, snapshot
from common.admin.records.writes import Writes, now
from common.config.models import Assistant, Provider, Record
from common.errors import NotFound, ValidationFailed
from common.http.responses import json_response
from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard

# Collections with a history, and their record types.
KINDS: dict[str, type[Record]] = {"assistants": Assistant, "providers": Provider}


def _collection(record: Record) -> str:
    return "providers" if isinstance(record, Provider) else "assistants"


def _revisions(tenant: str, ident: str, collection: str = "assistants") -> Any:
    return tenant_collection(tenant, collection).document(ident).collection("revisions")


async def latest(tenant: str, ident: str, collection: str = "assistants") -> int:
    from google.cloud.firestore import Query

    query = _revisions(tenant, ident, collection).order_by("revision", direction=Query.DESCENDING).limit(1)
    async with firestore_guard():
        docs = [d async for d in query.stream(timeout=RPC_TIMEOUT_S)]
    return int((docs[0].to_dict() or {}).get("revision", 0)) if docs else 0


async def stage(
    writes: Writes,
    snap: snapshot.Snapshot,
    record: Record,
    previous: Record | None,
    action: str,
    rolled_back_to: int | None = None,
) -> int:
    """Stage the record and its next revision (and the baseline it replaces, if unrecorded)."""
    tenant = snap.tenant
    collection = _collection(record)
    number = await latest(tenant, record.id, collection)
    col = _revisions(tenant, record.id, collection)
    if number == 0 and previous is not None:
        origin = "bundle" if snap.overlay_doc(collection, record.id) is None else "initial"
        writes.batch.create(
            col.document("1"),
            {
                "revision": 1,
                "action": origin,
                "at": None,
                "actor": None,
                "record": previous.model_dump(mode="json"),
            },
        )
        number = 1
    number += 1
    writes.batch.create(
        col.document(str(number)),
        {
            "revision": number,
            "action": action,
            "at": now(),
            "actor": writes.call.actor.username,
            "rolled_back_to": rolled_back_to,
            "record": record.model_dump(mode="json"),
        },
    )
    writes.put_record(collection, record, {"_revision": number})
    return number


def _public(data: dict[str, Any], model: type[Record] = Assistant) -> dict[str, Any]:
    return {
        "revision": data["revision"],
        "action": data.get("action", "update"),
        "at": iso(data.get("at")),
        "actor": data.get("actor"),
        "rolled_back_to": data.get("rolled_back_to"),
        "record": model.model_validate(data["record"]).model_dump(mode="json"),
    }


async def _history(
    tenant: str, ident: str, limit: int, before: int | None, collection: str = "assistants"
) -> list[dict[str, Any]]:
    from google.cloud.firestore import FieldFilter, Query

    query = _revisions(tenant, ident, collection).order_by("revision", direction=Query.DESCENDING)
    if before is not None:
        query = query.where(filter=FieldFilter("revision", "<", before))
    async with firestore_guard():
        docs = [d async for d in query.limit(limit).stream(timeout=RPC_TIMEOUT_S)]
    return [d.to_dict() or {} for d in docs]


async def _exists(call: Call, snap: snapshot.Snapshot, ident: str, collection: str = "assistants") -> bool:
    if collection == "providers":
        found = snap.cfg.providers.get(ident)
        if found is not None:
            return found.kind == "code"  # built-in providers have no history
    elif ident in snap.cfg.assistants:
        return True
    return await latest(call.tenant_id, ident, collection) > 0


async def list_revisions(call: Call, collection: str = "assistants") -> Response:
    ident = call.params["id"]
    snap = await snapshot.load(call.tenant_id)
    if not await _exists(call, snap, ident, collection):
        raise NotFound(f"{collection[:-1]} not found")
    limit = call.limit()
    token = call.page_token()
    try:
        before = int(token) if token is not None else None
    except ValueError:
        raise ValidationFailed("page_token: not a token this API issued", field="page_token") from None
    docs = await _history(call.tenant_id, ident, limit + 1, before, collection)
    page = docs[:limit]
    more = len(docs) > limit
    return json_response(
        {
            "items": [_public(d, KINDS[collection]) for d in page],
            "next_page_token": encode_token(str(page[-1]["revision"])) if more else None,
        }
    )


async def rollback(call: Call, collection: str = "assistants") -> Response:
    """Make revision n current again, as a new revision (history is never rewritten).

    Works for a deleted assistant too (its history survives), which is how an
    operator undoes a delete.
    """
    ident = call.params["id"]
    body = await call.body(RollbackRequest)
    snap = await snapshot.load(call.tenant_id)
    if not await _exists(call, snap, ident, collection):
        raise NotFound(f"{collection[:-1]} not found")
    async with firestore_guard():
        ref = _revisions(call.tenant_id, ident, collection).document(str(body.revision))
        doc = await ref.get(timeout=RPC_TIMEOUT_S)
    if not doc.exists:
        raise ValidationFailed(
            f"revision: {collection[:-1]} has no revision {body.revision}", field="revision"
        )
    current = cast(dict[str, Record], snap.records(collection)).get(ident)
    stored = KINDS[collection].model_validate((doc.to_dict() or {})["record"])
    restored: Record = stored
    if isinstance(stored, Assistant):
        created = (current if isinstance(current, Assistant) else stored).created_at
        restored = stored.model_copy(update={"created_at": created or now(), "updated_at": now()})
    else:
        integrity.check_code_provider(cast(Provider, restored), cast(Provider | None, current), call.actor)
    integrity.check_record(snap, collection, restored)
    writes = Writes(call, call.tenant_id)
    await stage(writes, snap, restored, current, "rollback", rolled_back_to=body.revision)
    changed = _changed(current, restored)
    writes.audit("rollback", collection, ident, changed)
    await writes.commit()
    return json_response(restored.model_dump(mode="json"))


def _changed(old: Record | None, new: Record) -> list[str]:
    new_data = new.model_dump(mode="json", exclude={"updated_at"})
    if old is None:
        return sorted(new_data)
    old_data = old.model_dump(mode="json", exclude={"updated_at"})
    return sorted(k for k in new_data if old_data.get(k) != new_data[k])
