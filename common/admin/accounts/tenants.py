"""Tenants (platform_admin only): the `tenants/{id}` document over the bundle's `tenant:`.

A tenant is listed when it has a Firestore document or a GCS bundle (a
deploy's `push-config` uploads bundles without touching Firestore).

DELETE is a soft delete: the document gets `is_active: false` (chat stops
serving it at once, as for any inactive tenant) and `_deleted: true` (the
admin API answers 404 for it). Its threads, usage and keys are kept; erasing
a tenant's data is a deliberate operation outside this API. A deleted
tenant's id is not reused (409).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.responses import Response

from common.admin.api.context import Call, paginate, tenant_exists
from common.admin.api.schemas import TenantCreate, TenantPatch
from common.admin.observability.audit import new_entry
from common.admin.records import platform_owned
from common.admin.records.writes import check_storable, now
from common.config import cache, source
from common.config.models import Tenant
from common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from common.http.responses import json_response
from common.settings import get_settings
from common.store import records
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_doc
from common.store.errors import firestore_guard


def _bundle_tenant_ids() -> set[str]:
    settings = get_settings()
    blobs = source.storage_client().list_blobs(
        settings.config_bucket, prefix="tenants/", timeout=source.GCS_TIMEOUT_S
    )
    out = set()
    for blob in blobs:
        parts = str(blob.name).split("/")
        if len(parts) == 3 and parts[2] == "config.yaml":
            out.add(parts[1])
    return out


async def _bundle_ids() -> set[str]:
    from google.api_core.exceptions import NotFound as GcsNotFound

    try:
        return await asyncio.to_thread(_bundle_tenant_ids)
    except GcsNotFound:  # no bucket yet: no bundles
        return set()


_DOC_FIELDS = ("name", "is_active", *platform_owned.TENANT_FIELDS)


async def _effective(tenant: str, doc: dict[str, Any] | None, *, full: bool = False) -> Tenant:
    """The tenant as chat sees it; `full` also reads the bundle's budgets when the
    document has a name (lists skip that read)."""
    bundle = None
    if full or doc is None or not doc.get("name"):
        try:
            bundle = await source.fetch_bundle(tenant)
        except source.StoredBundleRefused:
            bundle = None
    base = bundle.tenant.model_dump() if bundle else {"id": tenant}
    fields = {k: v for k, v in (doc or {}).items() if k in _DOC_FIELDS}
    return Tenant.model_validate({**base, **fields, "id": tenant})


async def list_tenants(call: Call) -> Response:
    pinned = get_settings().tenant_id
    docs: dict[str, dict[str, Any]] = {}
    async with firestore_guard():
        async for snap in get_db().collection("tenants").stream(timeout=RPC_TIMEOUT_S):
            docs[snap.id] = snap.to_dict() or {}
    ids = {t for t, d in docs.items() if not d.get("_deleted")}
    if not pinned:
        ids |= {t for t in await _bundle_ids() if t not in docs}
    if pinned:
        ids &= {pinned}
    page, token = paginate(sorted(ids), lambda t: t, call.limit(), call.page_token())
    items = await asyncio.gather(*(_effective(t, docs.get(t)) for t in page))
    return json_response({"items": [t.model_dump(mode="json") for t in items], "next_page_token": token})


async def _visible(ident: str) -> dict[str, Any] | None:
    pinned = get_settings().tenant_id
    if (pinned and ident != pinned) or not await tenant_exists(ident):
        raise NotFound("tenant not found")
    return await records.get_tenant(ident)


async def get_tenant(call: Call) -> Response:
    ident = call.params["id"]
    doc = await _visible(ident)
    return json_response((await _effective(ident, doc, full=True)).model_dump(mode="json"))


async def _commit(call: Call, ident: str, body: dict[str, Any], action: str, fields: list[str]) -> None:
    """The tenant document and its audit entry (platform log) in one batch."""
    check_storable(body)
    ref, entry = new_entry(
        call.actor,
        tenant=None,
        action=action,
        collection="tenants",
        target_id=ident,
        fields=fields,
        request_id=call.request_id,
    )
    batch = get_db().batch()
    batch.set(tenant_doc(ident), body, merge=True)
    batch.create(ref, entry)
    async with firestore_guard():
        await batch.commit(timeout=RPC_TIMEOUT_S)
    cache.invalidate(ident)


async def create_tenant(call: Call) -> Response:
    pinned = get_settings().tenant_id
    body = await call.body(TenantCreate)
    ident = body.id or "t-" + secrets.token_hex(4)
    if pinned and ident != pinned:
        raise Forbidden(f"this deployment serves tenant {pinned!r} only")
    if await records.get_tenant(ident) is not None or await tenant_exists(ident):
        raise Conflict(f"id: tenant {ident!r} exists or existed", field="id")
    data = {"name": body.name, "is_active": body.is_active, "_created_at": now()}
    await _commit(call, ident, data, "create", sorted(body.model_fields_set))
    return json_response(Tenant(id=ident, name=body.name, is_active=body.is_active).model_dump(), status=201)


async def patch_tenant(call: Call) -> Response:
    ident = call.params["id"]
    from common.admin.records.crud import IMMUTABLE, refuse_immutable
    from common.http.request import validate

    raw = await call.json()
    refuse_immutable(raw, IMMUTABLE)
    body = validate(TenantPatch, raw)
    doc = await _visible(ident)
    current = await _effective(ident, doc, full=True)
    changes = {k: v for k, v in body.model_dump(include=body.model_fields_set).items()}
    for key in ("name", "is_active"):
        if key in changes and changes[key] is None:
            raise ValidationFailed(f"{key}: must not be null", field=key)
    changed = sorted(k for k, v in changes.items() if getattr(current, k) != v)
    if not changed:
        return json_response(current.model_dump())
    # The document must carry both fields: the merge validates it as a whole Tenant over the bundle's.
    data = {"name": current.name, "is_active": current.is_active, **changes, "_updated_at": now()}
    await _commit(call, ident, data, "update", changed)
    return json_response(current.model_copy(update=changes).model_dump())


async def delete_tenant(call: Call) -> Response:
    ident = call.params["id"]
    doc = await _visible(ident)
    current = await _effective(ident, doc)
    data = {"name": current.name, "is_active": False, "_deleted": True, "_deleted_at": now()}
    await _commit(call, ident, data, "delete", [])
    return Response(status_code=204)
