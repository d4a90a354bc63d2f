"""Where tenant config comes from: the GCS bundle and the Firestore overlay.

The stored bundle is read with the same limits as an import (at most
`BUNDLE_MAX_BYTES` are downloaded, then `load_bundle`). When the stored bundle
is refused (written around the API, or before the limits existed), the
instance keeps the last bundle it parsed for that tenant and logs an error;
bytes identical to the last good or the last refused bundle are not parsed
again. An instance with no good bundle for the tenant answers 503 until a
valid bundle is imported.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from common.config.bundle import bundle_path, load_bundle
from common.config.models import COLLECTIONS, Bundle
from common.errors import AppError, DependencyUnavailable
from common.logging import get_logger, log
from common.settings import get_settings
from common.store import records

if TYPE_CHECKING:
    from google.cloud.storage import Client

_storage: Client | None = None
GCS_TIMEOUT_S = 10.0
_log = get_logger("config")


class StoredBundleRefused(DependencyUnavailable):
    """The bundle in GCS breaks the limits and this instance has no earlier good one."""


@dataclass(frozen=True)
class _Parsed:
    digest: str
    bundle: Bundle


_last_good: dict[str, _Parsed] = {}
_last_refused: dict[str, str] = {}  # tenant -> digest of the refused bytes


def storage_client() -> Client:
    global _storage
    if _storage is None:
        from google.cloud import storage

        _storage = storage.Client(project=get_settings().project)
    return _storage


def reset_storage() -> None:
    global _storage
    _storage = None


def _download(tenant: str, max_bytes: int) -> bytes | None:
    """The stored bundle, at most `max_bytes + 1` bytes of it (enough to know it is too big)."""
    from google.api_core.exceptions import NotFound

    blob = storage_client().bucket(get_settings().config_bucket).blob(bundle_path(tenant))
    try:
        return bytes(blob.download_as_bytes(start=0, end=max_bytes, timeout=GCS_TIMEOUT_S))
    except NotFound:
        return None


async def fetch_bundle(tenant: str) -> Bundle | None:
    """The tenant's bundle, or None when it has none (a Firestore-only tenant).

    A refused stored bundle gives the last good one (and an error in the log), or
    StoredBundleRefused (503) when this instance has none.
    """
    # google-cloud-storage is synchronous: keep it off the event loop.
    raw = await asyncio.to_thread(_download, tenant, get_settings().bundle_max_bytes)
    if raw is None:
        _last_good.pop(tenant, None)
        return None
    digest = hashlib.sha256(raw).hexdigest()
    good = _last_good.get(tenant)
    if good is not None and good.digest == digest:
        return good.bundle
    if _last_refused.get(tenant) != digest:
        try:
            bundle = await load_bundle(raw, expected_tenant=tenant)
        except AppError as exc:
            _last_refused[tenant] = digest
            log(
                _log,
                logging.ERROR,
                "stored bundle refused; serving the last good one" if good else "stored bundle refused",
                tenant=tenant,
                reason=exc.message,
            )
        else:
            _last_good[tenant] = _Parsed(digest, bundle)
            _last_refused.pop(tenant, None)
            return bundle
    if good is None:
        raise StoredBundleRefused("the tenant's stored config bundle is refused; import a valid one")
    return good.bundle


def remember_bundle(tenant: str, text: str, bundle: Bundle) -> None:
    """After an import: the uploaded text is known good, no need to parse it again."""
    _last_good[tenant] = _Parsed(hashlib.sha256(text.encode()).hexdigest(), bundle)
    _last_refused.pop(tenant, None)


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
