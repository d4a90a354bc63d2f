"""A fresh read of one tenant's config for the admin API: bundle, overlay and their merge.

Admin reads bypass the 5 s chat cache (`common.config.cache`): an operator who
just wrote a record must see it on the next GET. The snapshot also keeps the
two sources apart, because a delete depends on them: a record only in
Firestore is deleted, one that is also in the bundle gets a tombstone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from common.config import source
from common.config.effective import TenantConfig, merge
from common.config.models import Bundle, Record


@dataclass
class Snapshot:
    tenant: str
    bundle: Bundle | None
    tenant_doc: dict[str, Any] | None
    overlay: dict[str, dict[str, dict[str, Any]]]
    cfg: TenantConfig

    def records(self, collection: str) -> dict[str, Record]:
        found: dict[str, Record] = getattr(self.cfg, collection)
        return found

    def get(self, collection: str, ident: str) -> Record | None:
        return self.records(collection).get(ident)

    def in_bundle(self, collection: str, ident: str) -> bool:
        return self.bundle is not None and any(r.id == ident for r in getattr(self.bundle, collection))

    def overlay_doc(self, collection: str, ident: str) -> dict[str, Any] | None:
        return self.overlay.get(collection, {}).get(ident)


async def _bundle(tenant: str, refused_ok: bool) -> Bundle | None:
    try:
        return await source.fetch_bundle(tenant)
    except source.StoredBundleRefused:
        if not refused_ok:
            raise
        return None  # an import replaces it: check the new bundle against the overlay alone


async def load(tenant: str, *, refused_ok: bool = False) -> Snapshot:
    """`refused_ok`: treat a stored bundle that is refused (and no earlier good one) as absent."""
    bundle, (tenant_doc, overlay) = await asyncio.gather(
        _bundle(tenant, refused_ok), source.fetch_overlay(tenant)
    )
    by_id = {name: {raw["id"]: raw for raw in docs} for name, docs in overlay.items()}
    return Snapshot(tenant, bundle, tenant_doc, by_id, merge(tenant, bundle, tenant_doc, overlay))
