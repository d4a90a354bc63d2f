"""Secrets for the functions: one cached backend per process.

A warm function instance should not pay a Secret Manager round trip (and its
quota) on every request, so values are cached in memory. Pinned versions are
immutable in Secret Manager and are cached until evicted; "latest" can move,
so it is cached for `ttl` seconds only. Config that must see a rotation within
seconds references a pinned version (`put` returns it) rather than "latest".

Backends are imported lazily: the Secret Manager client is a heavy import
that the local backend (and a cold start that never touches secrets) should
not pay for.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from common.secrets.base import SecretNotFound, SecretsBackend, secret_id

__all__ = [
    "CachedSecrets",
    "SecretNotFound",
    "SecretsBackend",
    "get_secrets",
    "reset_secrets",
    "secret_id",
]

LATEST = "latest"
_Key = tuple[str, str]


class CachedSecrets:
    """A `SecretsBackend` that caches another one.

    Concurrent misses for one key share a single backend call (a burst of
    requests on a cold instance would otherwise each hit Secret Manager). The
    shared fetch runs as its own task, so a caller that is cancelled (client
    disconnect) does not cancel the fetch under the others.
    """

    def __init__(
        self,
        backend: SecretsBackend,
        *,
        ttl: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        # key -> (expires_at or None for "never", value)
        self._values: OrderedDict[_Key, tuple[float | None, str]] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Task[str]] = {}

    def __repr__(self) -> str:
        # Deliberately no values.
        return f"CachedSecrets(backend={self.backend!r}, cached={len(self._values)})"

    async def get(self, secret: str, version: str = LATEST) -> str:
        key = (secret, version)
        hit = self._values.get(key)
        if hit is not None:
            expires_at, value = hit
            if expires_at is None or self._clock() < expires_at:
                self._values.move_to_end(key)
                return value
            del self._values[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key))
            self._inflight[key] = task
            task.add_done_callback(self._fetched)
        return await asyncio.shield(task)

    async def put(self, secret: str, value: str) -> str:
        try:
            version = await self.backend.put(secret, value)
        finally:
            # Also on failure: the write may have landed before the error.
            self.invalidate(secret)
        self._store((secret, version), value)
        return version

    async def delete(self, secret: str) -> None:
        try:
            await self.backend.delete(secret)
        finally:
            self.invalidate(secret)

    async def ping(self) -> None:
        await self.backend.ping()

    def invalidate(self, secret: str | None = None) -> None:
        """Forget one secret (every version), or everything.

        In-flight fetches are detached rather than cancelled: their current
        callers still get an answer, but it is not cached and later callers
        start a fresh fetch, so nothing read before a write outlives it.
        """
        if secret is None:
            self._values.clear()
            self._inflight.clear()
            return
        for key in [k for k in self._values if k[0] == secret]:
            del self._values[key]
        for key in [k for k in self._inflight if k[0] == secret]:
            del self._inflight[key]

    async def _fetch(self, key: _Key) -> str:
        value = await self.backend.get(*key)
        if self._inflight.get(key) is asyncio.current_task():  # not invalidated meanwhile
            self._store(key, value)
        return value

    def _fetched(self, task: asyncio.Task[str]) -> None:
        for key, running in list(self._inflight.items()):
            if running is task:
                del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not logged with its traceback

    def _store(self, key: _Key, value: str) -> None:
        expires_at = self._clock() + self.ttl if key[1] == LATEST else None
        self._values[key] = (expires_at, value)
        self._values.move_to_end(key)
        while len(self._values) > self.max_entries:
            self._values.popitem(last=False)


_instance: CachedSecrets | None = None


def get_secrets() -> CachedSecrets:
    """The process-wide cache, built on first use from settings."""
    global _instance
    if _instance is None:
        from common.settings import get_settings

        _instance = CachedSecrets(_configured_backend(), ttl=get_settings().secret_ttl_s)
    return _instance


def reset_secrets(backend: SecretsBackend | None = None) -> None:
    """Drop the singleton (tests); with `backend`, the next `get_secrets()` wraps it."""
    global _instance
    if backend is None:
        _instance = None
    else:
        from common.settings import get_settings

        _instance = CachedSecrets(backend, ttl=get_settings().secret_ttl_s)


def _configured_backend() -> SecretsBackend:
    from common.settings import get_settings

    settings = get_settings()
    if settings.secrets_backend == "local":
        from common.secrets.local import LocalFileBackend

        return LocalFileBackend(settings.local_secrets_file)
    if settings.secrets_backend == "gcp":
        from common.secrets.gcp import SecretManagerBackend

        return SecretManagerBackend(settings.project)
    raise ValueError(f"SECRETS_BACKEND must be 'gcp' or 'local', not {settings.secrets_backend!r}")
