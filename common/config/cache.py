"""Per-instance cache of effective tenant config, with bounded staleness.

A config younger than `config_ttl_s` is used as is. Older than that but
younger than `config_max_staleness_s`, it is still used while one background
refresh runs, so warm requests never wait on GCS or Firestore for config.
Older still (an idle instance), the request waits for a fresh load. An admin
write is therefore visible on every instance within `config_max_staleness_s`
(10 s, SPEC §4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from common.config import source
from common.config.effective import TenantConfig, merge
from common.errors import NotFound
from common.logging import get_logger, log
from common.settings import get_settings

_log = get_logger("config")


@dataclass
class _Entry:
    config: TenantConfig
    loaded_at: float


_entries: dict[str, _Entry] = {}
_inflight: dict[str, asyncio.Task[_Entry]] = {}


async def _load(tenant: str) -> _Entry:
    started = time.monotonic()
    bundle, (tenant_doc, overlay) = await asyncio.gather(
        source.fetch_bundle(tenant), source.fetch_overlay(tenant)
    )
    entry = _Entry(merge(tenant, bundle, tenant_doc, overlay), started)
    _entries[tenant] = entry
    return entry


def _refresh(tenant: str) -> asyncio.Task[_Entry]:
    task = _inflight.get(tenant)
    if task is None or task.done():
        task = asyncio.get_running_loop().create_task(_load(tenant))
        _inflight[tenant] = task
        task.add_done_callback(lambda t: _log_failure(tenant, t))
    return task


def _log_failure(tenant: str, task: asyncio.Task[_Entry]) -> None:
    _inflight.pop(tenant, None)
    if not task.cancelled() and task.exception() is not None:
        log(
            _log,
            logging.WARNING,
            "config refresh failed",
            tenant=tenant,
            error=type(task.exception()).__name__,
        )


async def get_config(tenant: str) -> TenantConfig:
    settings = get_settings()
    entry = _entries.get(tenant)
    if entry is not None:
        age = time.monotonic() - entry.loaded_at
        if age < settings.config_ttl_s:
            return entry.config
        if age < settings.config_max_staleness_s:
            _refresh(tenant)
            return entry.config
    # shield: a caller that goes away must not cancel the load other callers share.
    return (await asyncio.shield(_refresh(tenant))).config


async def get_active_config(tenant: str) -> TenantConfig:
    cfg = await get_config(tenant)
    if not cfg.active:
        raise NotFound("tenant not found")
    return cfg


def invalidate(tenant: str | None = None) -> None:
    if tenant is None:
        _entries.clear()
    else:
        _entries.pop(tenant, None)
