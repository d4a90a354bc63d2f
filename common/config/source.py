"""Where tenant config comes from: the GCS bundle and the Firestore overlay."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from common.config.bundle import bundle_path, parse_bundle
from common.config.models import COLLECTIONS, Bundle
from common.settings import get_settings
from common.store import records

if TYPE_CHECKING:
    from google.cloud.storage import Client

_storage: Client | None = None
GCS_TIMEOUT_S = 10.0


def storage_client() -> Client:
    global _storage
    if _storage is None:
        from google.cloud import storage

        _storage = storage.Client(project=get_settings().project)
    return _storage


def reset_storage() -> None:
    global _storage
    _storage = None


def _download(tenant: str) -> bytes | None:
    from google.api_core.exceptions import NotFound

    bucket = storage_client().bucket(get_settings().config_bucket)
    try:
        return bytes(bucket.blob(bundle_path(tenant)).download_as_bytes(timeout=GCS_TIMEOUT_S))
    except NotFound:
        return None


async def fetch_bundle(tenant: str) -> Bundle | None:
    """The tenant's bundle, or None when it has none (a Firestore-only tenant)."""
    # google-cloud-storage is synchronous: keep it off the event loop.
    raw = await asyncio.to_thread(_download, tenant)
    return parse_bundle(raw, expected_tenant=tenant) if raw is not None else None


def upload_bundle(tenant: str, text: str) -> None:
    bucket = storage_client().bucket(get_settings().config_bucket)
    bucket.blob(bundle_path(tenant)).upload_from_string(
        text, content_type="application/yaml", timeout=GCS_TIMEOUT_S
    )


async def fetch_overlay(tenant: str) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    names = list(COLLECTIONS)
    results = await asyncio.gather(
        records.get_tenant(tenant), *(records.list_records(tenant, n) for n in names)
    )
    tenant_doc, lists = results[0], results[1:]
    return tenant_doc, dict(zip(names, lists, strict=True))
