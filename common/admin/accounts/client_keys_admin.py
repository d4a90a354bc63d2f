"""Client keys of a tenant's apps: mint (plaintext shown once), list, revoke, restore.

DELETE revokes rather than erases: the record stays, `is_active: false` with
`revoked_at`, so the audit trail and "which key was that" survive. A revoked
key answers 401 at once on the instance that revoked it and within 10 s on
every other instance (`CLIENT_KEY_TTL_S`, the lookup cache's lifetime).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from common.admin.api.context import Call, iso, paginate
from common.admin.api.schemas import ClientKeyCreate, ClientKeyPatch
from common.admin.records import snapshot
from common.admin.records.crud import refuse_immutable
from common.admin.records.writes import Writes, check_storable, now
from common.auth import client_keys
from common.errors import Conflict, NotFound, ValidationFailed
from common.http.responses import json_response
from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard

COLLECTION = "client_keys"
_PUBLIC = ("app_id", "name", "prefix", "scopes", "is_active", "created_at", "last_used_at", "revoked_at")


def _public(ident: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, **{k: iso(data.get(k)) for k in _PUBLIC}}
    out["name"] = out["name"] or ""
    out["scopes"] = list(out["scopes"] or [])
    out["is_active"] = bool(out["is_active"])
    return out


def _check_scopes(scopes: list[str]) -> None:
    """Scopes are enforced by start and chat (`common.chat.access`), so only known ones are kept."""
    from common.chat.access import SCOPES

    if not scopes:
        raise ValidationFailed("scopes: a key needs at least one scope", field="scopes")
    for index, scope in enumerate(scopes):
        if scope not in SCOPES:
            known = ", ".join(sorted(SCOPES))
            raise ValidationFailed(f"scopes.{index}: unknown scope (known: {known})", field=f"scopes.{index}")


async def _get(tenant: str, ident: str) -> dict[str, Any]:
    async with firestore_guard():
        snap = await tenant_collection(tenant, COLLECTION).document(ident).get(timeout=RPC_TIMEOUT_S)
    if not snap.exists:
        raise NotFound("client key not found")
    return snap.to_dict() or {}


async def list_keys(call: Call) -> Response:
    app_id = call.query("app_id")
    async with firestore_guard():
        docs = [d async for d in tenant_collection(call.tenant_id, COLLECTION).stream(timeout=RPC_TIMEOUT_S)]
    items = [_public(d.id, d.to_dict() or {}) for d in docs]
    if app_id:
        items = [i for i in items if i["app_id"] == app_id]
    page, token = paginate(items, lambda i: str(i["id"]), call.limit(), call.page_token())
    return json_response({"items": page, "next_page_token": token})


async def get_key(call: Call) -> Response:
    return json_response(_public(call.params["id"], await _get(call.tenant_id, call.params["id"])))


async def create_key(call: Call) -> Response:
    body = await call.body(ClientKeyCreate)
    _check_scopes(body.scopes)
    check_storable(body.model_dump())
    snap = await snapshot.load(call.tenant_id)
    if body.app_id not in snap.cfg.apps:
        raise ValidationFailed(f"app_id: no app with id {body.app_id!r}", field="app_id")
    from google.api_core.exceptions import AlreadyExists

    try:
        record, plaintext = await client_keys.create_client_key(
            call.tenant_id, body.app_id, body.name, body.scopes, key_id=body.id
        )
    except AlreadyExists:
        raise Conflict(f"id: a client key with id {body.id!r} exists", field="id") from None
    writes = Writes(call, call.tenant_id)
    writes.audit("create", COLLECTION, record["id"], sorted(body.model_fields_set | {"app_id"}))
    await writes.commit()
    return json_response({**_public(record["id"], record), "key": plaintext}, status=201)


async def _set_state(call: Call, ident: str, changes: dict[str, Any], action: str) -> dict[str, Any]:
    data = await _get(call.tenant_id, ident)
    fields = {k: v for k, v in changes.items() if data.get(k) != v}
    if "is_active" in fields:
        fields["revoked_at"] = None if fields["is_active"] else now()
    if not fields:
        return data
    merged = {**data, **fields}
    writes = Writes(call, call.tenant_id)
    client_keys.stage_client_key_state(
        writes.batch,
        call.tenant_id,
        ident,
        str(data.get("key_hash", "")),
        str(data.get("app_id", "")),
        is_active=bool(merged.get("is_active")),
        scopes=list(merged.get("scopes") or []),
        fields=fields,
    )
    writes.audit(action, COLLECTION, ident, [k for k in fields if k != "revoked_at"])
    await writes.commit()
    client_keys.clear_cache()
    return merged


async def patch_key(call: Call) -> Response:
    raw = await call.json()
    refuse_immutable(raw, frozenset({"id", "app_id", "prefix", "key_hash", "created_at", "last_used_at"}))
    from common.http.request import validate

    body = validate(ClientKeyPatch, raw)
    changes = body.model_dump(include=body.model_fields_set)
    for key in [k for k, v in changes.items() if v is None]:
        raise ValidationFailed(f"{key}: must not be null", field=key)
    if "scopes" in changes:
        _check_scopes(changes["scopes"])
    check_storable(changes)
    action = {False: "revoke", True: "restore"}.get(changes.get("is_active"), "update")  # type: ignore[arg-type]
    data = await _set_state(call, call.params["id"], changes, action)
    return json_response(_public(call.params["id"], data))


async def revoke_key(call: Call) -> Response:
    await _set_state(call, call.params["id"], {"is_active": False}, "revoke")
    return Response(status_code=204)
