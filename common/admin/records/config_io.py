"""Config as code over HTTP: export the effective config, import a bundle to GCS.

Export is what chat runs (bundle + Firestore overlay) as one YAML bundle;
credentials appear by id, provider and version only, never a key.

Import replaces the tenant's GCS bundle after checking it as chat would see
it: the bundle must parse (422 naming the field), name this tenant, and,
overlaid by the tenant's Firestore records, keep every reference intact. The
Firestore overlay still wins over the new bundle; the response lists which
records it overrides, so an operator knows to delete those overlay records
if the bundle is meant to take over. Chat picks the bundle up within 10 s.

The body is parsed with the bundle limits (`common.config.bundle`: byte cap,
no YAML aliases, depth and node caps, off the loop with a time limit); a
refused body is 413/422 naming the limit and nothing is written. A tenant
admin cannot change platform-owned limits (`common.admin.records.platform_owned`).
The audit entry lists what changed, as `collection.id[.field]` names.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from common import bounded
from common.admin.api.context import Call
from common.admin.records import integrity, platform_owned, snapshot
from common.admin.records.writes import Writes
from common.config.bundle import bundle_from_json, dump_bundle, load_bundle
from common.config.effective import merge
from common.config.models import COLLECTIONS, Bundle, Provider, Tenant
from common.config.source import remember_bundle, upload_bundle
from common.errors import AppError, BadRequest, NotFound, ValidationFailed
from common.http.request import loads, read_body
from common.http.responses import json_response
from common.settings import get_settings
from common.store.db import tenant_doc
from common.store.storable import check_storable

YAML = "application/yaml"


async def export_config(call: Call) -> Response:
    snap = await snapshot.load(call.tenant_id)
    cfg = snap.cfg
    tenant = cfg.tenant or Tenant(id=call.tenant_id)
    if snap.tenant_doc is not None and snap.tenant_doc.get("_deleted"):
        raise NotFound("tenant not found")
    bundle = Bundle(
        tenant=tenant,
        **{name: sorted(getattr(cfg, name).values(), key=lambda r: r.id) for name in COLLECTIONS},
    )
    return Response(dump_bundle(bundle), media_type=YAML)


async def _parse(call: Call) -> Bundle:
    raw = await read_body(call.ctx.request, get_settings().bundle_max_bytes)
    if "json" in call.ctx.request.headers.get("content-type", ""):
        try:
            data = loads(raw)
        except BadRequest as exc:
            raise ValidationFailed(f"body: {exc.message}", field="body") from None
        bundle = await bundle_from_json(data)
    else:
        bundle = await load_bundle(raw)
    if bundle.tenant.id != call.tenant_id:
        raise ValidationFailed(
            f"tenant.id: is {bundle.tenant.id!r}, this request acts on {call.tenant_id!r}", field="tenant.id"
        )
    check_storable(bundle.model_dump(mode="json"))
    return bundle


def _check(call: Call, current: snapshot.Snapshot, bundle: Bundle) -> snapshot.Snapshot:
    """The effective config the new bundle would give, checked record by record."""
    overlay = {name: list(docs.values()) for name, docs in current.overlay.items()}
    cfg = merge(call.tenant_id, bundle, current.tenant_doc, overlay)
    future = snapshot.Snapshot(call.tenant_id, bundle, current.tenant_doc, current.overlay, cfg)
    for provider in bundle.providers:
        old = current.cfg.providers.get(provider.id)
        if provider != old:
            integrity.check_code_provider(provider, old if isinstance(old, Provider) else None, call.actor)
    for name in COLLECTIONS:
        positions = {r.id: i for i, r in enumerate(getattr(bundle, name))}
        for record in future.records(name).values():
            try:
                integrity.check_record(future, name, record)
            except AppError as exc:
                where = f"{name}.{positions.get(record.id, record.id)}"
                field = f"{where}.{exc.field}" if exc.field else where
                raise ValidationFailed(f"{where}: {exc.message}", field=field) from None
    return future


def changed_fields(old: Bundle | None, new: Bundle) -> list[str]:
    """What an import changes, as names only: `tenant.field`, `collection.id` (added or
    removed) and `collection.id.field` (changed)."""
    out: list[str] = []
    before_tenant = old.tenant.model_dump(mode="json") if old else {}
    for name, value in new.tenant.model_dump(mode="json").items():
        if before_tenant.get(name) != value:
            out.append(f"tenant.{name}")
    for name in COLLECTIONS:
        before = {r.id: r.model_dump(mode="json") for r in getattr(old, name)} if old else {}
        after = {r.id: r.model_dump(mode="json") for r in getattr(new, name)}
        out += [f"{name}.{ident}" for ident in sorted(before.keys() ^ after.keys())]
        for ident in sorted(before.keys() & after.keys()):
            out += [f"{name}.{ident}.{k}" for k, v in after[ident].items() if before[ident].get(k) != v]
    return out if len(out) <= MAX_AUDIT_FIELDS else [*out[:MAX_AUDIT_FIELDS], "..."]


MAX_AUDIT_FIELDS = 200


async def import_config(call: Call) -> Response:
    bundle = await _parse(call)
    current = await snapshot.load(call.tenant_id, refused_ok=True)

    def prepare() -> str:  # cross-record checks and the YAML dump grow with the bundle
        _check(call, current, bundle)
        platform_owned.check_import(call.actor, current.cfg, bundle)
        return dump_bundle(bundle)

    timeout = get_settings().bundle_parse_timeout_s
    try:
        text = await bounded.run(prepare, timeout)
    except bounded.TimeUp:
        raise ValidationFailed(
            f"body: the bundle took longer than {timeout:g} s to check", field="body"
        ) from None
    await asyncio.to_thread(_upload, call.tenant_id, text)
    remember_bundle(call.tenant_id, text, bundle)
    writes = Writes(call, call.tenant_id)
    budgets = platform_owned.doc_updates(current.tenant_doc, bundle.tenant) if call.actor.is_platform else {}
    if budgets:
        writes.batch.set(tenant_doc(call.tenant_id), budgets, merge=True)
        writes.staged += 1
    writes.audit("import", "config", "config.yaml", changed_fields(current.bundle, bundle))
    await writes.commit()
    overridden = {
        name: sorted(r.id for r in getattr(bundle, name) if r.id in current.overlay.get(name, {}))
        for name in COLLECTIONS
    }
    return json_response(
        {
            "tenant": call.tenant_id,
            "counts": {name: len(getattr(bundle, name)) for name in COLLECTIONS},
            "overridden_by_firestore": {k: v for k, v in overridden.items() if v},
        }
    )


def _upload(tenant: str, text: str) -> None:
    from google.api_core.exceptions import NotFound as GcsNotFound

    try:
        upload_bundle(tenant, text)
    except GcsNotFound:  # a fresh project or emulator without the bucket yet
        from common.provision import ensure_bucket

        ensure_bucket()
        upload_bundle(tenant, text)
