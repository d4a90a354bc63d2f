"""CRUD of config records (apps, providers, models, credentials, assistants, tools).

Reads show the effective config (bundle + Firestore overlay, fresh); writes
go to the overlay `tenants/{t}/{collection}/{id}` as whole records.

PATCH semantics: top-level merge. Each field present replaces the stored
value whole (`actions`, `config` and other objects are not deep-merged);
`null` clears a nullable field and is a 422 for the others; absent fields
keep their value. `id`, `tenant_id` and server-managed fields (timestamps,
`last4`, `secret_version`) cannot be set: sending one is a 422 naming it.
A PATCH that changes nothing writes nothing (no audit entry, no revision).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from common.admin.api.context import Call, paginate
from common.admin.records import integrity, platform_owned, revisions, snapshot
from common.admin.records.record_models import MODELS, CollectionModels
from common.admin.records.writes import Writes, check_storable, now
from common.config.models import Assistant, Credential, Provider, Record
from common.errors import Conflict, NotFound, ValidationFailed
from common.http.request import validate
from common.http.responses import json_response
from common.logging import get_logger, log
from common.providers import endpoint
from common.secrets import get_secrets, secret_id
from common.settings import get_settings
from common.validation import validated

_log = get_logger("admin")
IMMUTABLE = frozenset({"id", "tenant_id"})


def refuse_immutable(raw: Any, names: frozenset[str]) -> None:
    if isinstance(raw, dict):
        for key in sorted(names & set(raw)):
            raise ValidationFailed(f"{key}: cannot be changed", field=key)


def to_record(model: type[Record], data: dict[str, Any]) -> Record:
    return validated(model, data)


def public(record: Record) -> dict[str, Any]:
    # The host proof is an HMAC keyed by the secret: of no use to a reader, so never shown.
    return record.model_dump(mode="json", exclude={"host_proof"} if isinstance(record, Credential) else None)


def shown(call: Call, record: Record) -> dict[str, Any]:
    """A record as this caller may see it: a code provider's source is for platform admins only."""
    data = public(record)
    if isinstance(record, Provider) and record.kind == "code" and not call.actor.is_platform:
        for name in ("python_code", "validation_code"):
            if data.get(name):
                data[name] = "(hidden: platform admins read it at GET /admin/providers/{id}/code)"
    return data


def _has_history(record: Record | None) -> bool:
    return isinstance(record, Assistant) or (isinstance(record, Provider) and record.kind == "code")


def _changed(old: Record, new: Record) -> list[str]:
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    return sorted(k for k in after if k != "updated_at" and before.get(k) != after[k])


async def _store_value(snap: snapshot.Snapshot, tenant: str, record: Record, value: str) -> dict[str, str]:
    """Write the key to the secrets backend; the record keeps the version, the last 4 and the
    upstream host the key is now bound to (`common.providers.endpoint`)."""
    check_storable(value, "value")
    ident = record.id
    provider_id = record.provider_id if isinstance(record, Credential) else None
    bound = endpoint.binding(tenant, ident, snap.cfg.providers.get(provider_id or ""), value)
    try:
        name = secret_id(tenant, "cred", ident)
    except ValueError:
        raise ValidationFailed(
            "id: a credential with a key may use letters, digits and '-' only", field="id"
        ) from None
    version = await get_secrets().put(name, value)
    return {"secret_version": version, "last4": value[-4:] if len(value) >= 12 else "", **bound}


def _check_provider_rules(call: Call, cm: CollectionModels, new: Record | None, old: Record | None) -> None:
    if cm.name == "providers":
        integrity.check_code_provider(
            new if isinstance(new, Provider) else None, old if isinstance(old, Provider) else None, call.actor
        )


async def _check_untrusted(call: Call, cm: CollectionModels, new: Record, old: Record | None) -> None:
    """Platform-owned limits (403), then the record's JSON Schemas, checked off the loop (422)."""
    from common.tools import safe_schema  # jsonschema and RE2 load on first use

    platform_owned.check_record(call.actor, cm.name, old, new)
    schemas = safe_schema.record_schemas(new)
    if schemas:
        await safe_schema.check_async(schemas, get_settings().schema_timeout_s)


async def _check_code(record: Record) -> None:
    """A code provider is stored only when its code passes the static checks (nothing runs)."""
    if not (isinstance(record, Provider) and record.kind == "code"):
        return
    from common.sandbox.validate import check_provider

    if not record.python_code:
        raise ValidationFailed("python_code: required for code providers", field="python_code")
    problems = await check_provider(record)
    if problems:
        first = problems[0]
        where = f" line {first['line']}" if first["line"] else ""
        more = (
            f" (and {len(problems) - 1} more; see POST /admin/providers/code/validate)"
            if len(problems) > 1
            else ""
        )
        raise ValidationFailed(f"{first['field']}:{where}: {first['message']}{more}", field=first["field"])


async def _checked(
    call: Call,
    cm: CollectionModels,
    snap: snapshot.Snapshot,
    new: Record,
    old: Record | None,
    value: str | None,
) -> Record:
    """Every check a created or changed record passes, then its secret value stored (if any)."""
    _check_provider_rules(call, cm, new, old)
    await _check_untrusted(call, cm, new, old)
    integrity.check_record(snap, cm.name, new)
    await _check_code(new)
    if value is None:
        return new
    return new.model_copy(update=await _store_value(snap, call.tenant_id, new, value))


async def list_records(call: Call, cm: CollectionModels, **filters: str) -> Response:
    snap = await snapshot.load(call.tenant_id)
    items = [r for r in snap.records(cm.name).values() if all(getattr(r, k) == v for k, v in filters.items())]
    page, token = paginate(items, lambda r: r.id, call.limit(), call.page_token())
    return json_response({"items": [shown(call, r) for r in page], "next_page_token": token})


async def get_record(call: Call, cm: CollectionModels) -> Response:
    snap = await snapshot.load(call.tenant_id)
    record = snap.get(cm.name, call.params["id"])
    if record is None:
        raise NotFound(f"{cm.singular.lower()} not found")
    return json_response(shown(call, record))


async def create_record(call: Call, cm: CollectionModels) -> Response:
    raw = await call.json()
    refuse_immutable(raw, cm.read_only | {"tenant_id"})
    body = validate(cm.create, raw)
    data = body.model_dump(exclude_unset=True)
    value = data.pop("value", None)
    snap = await snapshot.load(call.tenant_id)
    ident = data.pop("id", None) or cm.new_id()
    if ident in snap.records(cm.name):
        raise Conflict(f"id: a {cm.singular.lower()} with id {ident!r} exists", field="id")
    if cm.name == "assistants":
        data["created_at"] = data["updated_at"] = now()
    record = await _checked(call, cm, snap, to_record(cm.record, {**data, "id": ident}), None, value)
    writes = Writes(call, call.tenant_id)
    if _has_history(record):
        await revisions.stage(writes, snap, record, None, "create")
    else:
        writes.put_record(cm.name, record)
    writes.audit("create", cm.name, ident, [*data, *(["value"] if value is not None else [])])
    await writes.commit(f"a {cm.singular.lower()} with id {ident!r} was created concurrently")
    return json_response(shown(call, record), status=201)


async def patch_record(call: Call, cm: CollectionModels) -> Response:
    raw = await call.json()
    refuse_immutable(raw, IMMUTABLE | cm.read_only)
    body = validate(cm.patch, raw)
    changes = body.model_dump(include=body.model_fields_set)
    value = changes.pop("value", None)
    snap = await snapshot.load(call.tenant_id)
    old = snap.get(cm.name, call.params["id"])
    if old is None:
        raise NotFound(f"{cm.singular.lower()} not found")
    merged = {**old.model_dump(), **changes}
    if cm.name == "assistants":
        merged["updated_at"] = now()
    new = to_record(cm.record, merged)
    changed = _changed(old, new) + (["value"] if value is not None else [])
    if not changed:
        return json_response(shown(call, old))
    new = await _checked(call, cm, snap, new, old, value)
    writes = Writes(call, call.tenant_id)
    if _has_history(new):
        await revisions.stage(writes, snap, new, old if type(old) is type(new) else None, "update")
    else:
        writes.put_record(cm.name, new)
    writes.audit("update", cm.name, new.id, changed)
    await writes.commit()
    return json_response(shown(call, new))


async def delete_record(call: Call, cm: CollectionModels) -> Response:
    ident = call.params["id"]
    snap = await snapshot.load(call.tenant_id)
    old = snap.get(cm.name, ident)
    if old is None:
        raise NotFound(f"{cm.singular.lower()} not found")
    _check_provider_rules(call, cm, None, old)
    integrity.check_delete(snap, cm.name, ident)
    writes = Writes(call, call.tenant_id)
    if snap.in_bundle(cm.name, ident):
        writes.tombstone(cm.name, ident)
    else:
        writes.delete(cm.name, ident)
    writes.audit("delete", cm.name, ident, [])
    await writes.commit()
    if isinstance(old, Credential):
        await _forget_value(call.tenant_id, ident)
    return Response(status_code=204)


async def _forget_value(tenant: str, ident: str) -> None:
    """Delete the key from the secrets backend; the record is gone, so failure only leaves an orphan."""
    try:
        await get_secrets().delete(secret_id(tenant, "cred", ident))
    except Exception as exc:
        log(_log, logging.WARNING, "credential secret not deleted", tenant=tenant, error=type(exc).__name__)


async def list_children(call: Call, parent: str, child: str, field: str) -> Response:
    """`GET /providers/{id}/models`, `GET /apps/{id}/assistants`: 404 for an unknown parent."""
    snap = await snapshot.load(call.tenant_id)
    if snap.get(parent, call.params["id"]) is None:
        raise NotFound(f"{MODELS[parent].singular.lower()} not found")
    items = [r for r in snap.records(child).values() if getattr(r, field) == call.params["id"]]
    page, token = paginate(items, lambda r: r.id, call.limit(), call.page_token())
    return json_response({"items": [public(r) for r in page], "next_page_token": token})
