"""Config as code over HTTP: export the effective config, import a bundle to GCS.

Export is what chat runs (bundle + Firestore overlay) as one YAML bundle;
credentials appear by id, provider and version only, never a key.

Import replaces the tenant's GCS bundle after checking it as chat would see
it: the bundle must parse (422 naming the field), name this tenant, and,
overlaid by the tenant's Firestore records, keep every reference intact. The
Firestore overlay still wins over the new bundle; the response lists which
records it overrides, so an operator knows to delete those overlay records
if the bundle is meant to take over. Chat picks the bundle up within 10 s.
"""

from __future__ import annotations

import asyncio
import json

from starlette.responses import Response

from common.admin import integrity, snapshot
from common.admin.context import Call
from common.admin.writes import Writes
from common.config.bundle import dump_bundle, parse_bundle
from common.config.effective import merge
from common.config.models import COLLECTIONS, Bundle, Provider, Tenant
from common.config.source import upload_bundle
from common.errors import AppError, NotFound, ValidationFailed
from common.http.request import read_body
from common.http.responses import json_response
from common.settings import get_settings
from common.store.storable import check_storable
from common.validation import validated

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
    raw = await read_body(call.ctx.request, get_settings().max_body_bytes)
    if "json" in call.ctx.request.headers.get("content-type", ""):
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed("body: not valid JSON", field="body") from None
        if not isinstance(data, dict):
            raise ValidationFailed("body: must be a bundle object", field="body")
        bundle = validated(Bundle, data)
    else:
        try:
            bundle = parse_bundle(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ValidationFailed("body: not UTF-8 text", field="body") from None
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


async def import_config(call: Call) -> Response:
    bundle = await _parse(call)
    current = await snapshot.load(call.tenant_id)
    _check(call, current, bundle)
    text = dump_bundle(bundle)
    await asyncio.to_thread(_upload, call.tenant_id, text)
    writes = Writes(call, call.tenant_id)
    writes.audit("import", "config", "config.yaml", [n for n in COLLECTIONS if getattr(bundle, n)])
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
