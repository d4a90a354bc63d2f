"""The audit log: who changed what, when (never the values of secret fields).

Entries live beside the data they describe: `tenants/{t}/audit/{id}` for a
tenant's records, top-level `audit/{id}` for platform-wide changes (tenants,
platform admins). Ids are time-ordered (`{ns:020d}-{random}`) and mirrored in
`seq`, so "newest first" is one descending scan without a composite index.
Entries are written in the same batch as the change they record, so neither
exists without the other.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from common.admin.api.context import Call, encode_token, iso
from common.http.responses import json_response
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection
from common.store.errors import firestore_guard

if TYPE_CHECKING:
    from common.auth.roles import Principal

AUDIT = "audit"
SECRET_FIELDS = frozenset({"value", "password", "password_hash", "key_hash", "key"})


def audit_collection(tenant: str | None) -> Any:
    return tenant_collection(tenant, AUDIT) if tenant else get_db().collection(AUDIT)


def new_entry(
    actor: Principal,
    *,
    tenant: str | None,
    action: str,
    collection: str,
    target_id: str,
    fields: list[str],
    request_id: str,
) -> tuple[Any, dict[str, Any]]:
    """The document reference and body of one audit entry (names only: values never enter)."""
    entry_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    body = {
        "seq": entry_id,
        "at": datetime.now(UTC),
        "actor_id": actor.user_id,
        "actor": actor.username,
        "role": actor.role,
        "tenant_id": tenant,
        "action": action,
        "collection": collection,
        "target_id": target_id,
        "fields": sorted(set(fields)),
        "request_id": request_id,
    }
    return audit_collection(tenant).document(entry_id), body


async def list_entries(tenant: str | None, limit: int, before: str | None) -> list[dict[str, Any]]:
    """Newest first; `before` is the `seq` of the last entry of the previous page."""
    from google.cloud.firestore import FieldFilter, Query

    query = audit_collection(tenant).order_by("seq", direction=Query.DESCENDING)
    if before:
        query = query.where(filter=FieldFilter("seq", "<", before))
    async with firestore_guard():
        docs = [d async for d in query.limit(limit).stream(timeout=RPC_TIMEOUT_S)]
    out = []
    for doc in docs:
        data = doc.to_dict() or {}
        data.pop("seq", None)
        out.append({"id": doc.id, **{k: iso(v) for k, v in data.items()}})
    return out


async def list_audit(call: Call) -> Response:
    """`GET /admin/audit`: the tenant's log, or (platform admin, no X-Tenant-Id) the platform log."""
    limit = call.limit()
    entries = await list_entries(call.tenant, limit + 1, call.page_token())
    page = entries[:limit]
    token = encode_token(str(page[-1]["id"])) if len(entries) > limit else None
    return json_response({"items": page, "next_page_token": token})
