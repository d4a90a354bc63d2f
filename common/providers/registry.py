"""Provider kind -> adapter, importing each vendor SDK only when a request needs it.

Importing this module imports no SDK: a `health` or Gemini-only instance never
pays for openai or cohere at cold start. Adapters (and their HTTP connection
pools) are cached per (kind, base_url, key hash, timeout, event loop) so one
instance reuses its clients across requests; the cache is a small LRU, and
evicted adapters are closed after a grace period so a stream still using one
is not cut off.

A vendor SDK takes long to import (openai: ~370 ms of CPU on a 2-core machine, most
of it its pydantic types), so an instance's first turn must not do it on the event
loop: `preload` starts the import in a thread as soon as a request has read its
tenant's config, and `ensure_imported` (awaited before `get_adapter`) waits for it.
The import then overlaps the turn's own I/O (secrets, thread read, rate-limit
lease, user-message commit) and other requests keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, cast

from common.providers.base import ProviderAdapter

if TYPE_CHECKING:
    from common.config.models import Provider

MAX_CACHED_ADAPTERS = 256
EVICTED_CLOSE_DELAY_S = 300.0
KINDS = ("openai", "openai_compatible", "cohere", "gemini")

_CacheKey = tuple[str, str | None, str, float, int | None]
_cache: OrderedDict[_CacheKey, ProviderAdapter] = OrderedDict()
_closing: set[asyncio.Task[None]] = set()

# The adapter module of each kind; importing it imports that vendor's SDK. OpenAI's kinds
# are absent: their module depends on PROVIDER_HTTP_CLIENT (see _module).
_MODULES = {
    "cohere": "common.providers.cohere",
    "gemini": "common.providers.gemini",
    "code": "common.providers.code",
}
_OPENAI_KINDS = ("openai", "openai_compatible")


def _module(kind: str) -> str | None:
    if kind in _OPENAI_KINDS:  # the wire client imports only aiohttp; the SDK's adapter, the SDK
        return "common.providers.openai_wire" if http_client_kind() == "wire" else "common.providers.openai"
    return _MODULES.get(kind)


_imports: dict[str, concurrent.futures.Future[None]] = {}
_imports_lock = threading.Lock()


def _import_in_thread(module: str) -> concurrent.futures.Future[None]:
    """The import of `module` in a daemon thread (started once per module)."""
    with _imports_lock:
        fut = _imports.get(module)
        if fut is None:
            fut = _imports[module] = concurrent.futures.Future()

            def run() -> None:
                try:
                    importlib.import_module(module)
                except BaseException as exc:  # handed to whoever awaits it
                    fut.set_exception(exc)
                else:
                    fut.set_result(None)

            threading.Thread(target=run, name=f"import {module}", daemon=True).start()
    return fut


def preload(kinds: Iterable[str]) -> None:
    """Start importing the SDKs these provider kinds need, without waiting (cheap if done)."""
    for kind in kinds:
        module = _module(kind)
        if module is not None and module not in sys.modules:
            _import_in_thread(module)


async def ensure_imported(kinds: Iterable[str]) -> None:
    """Wait, off the event loop, until these kinds' SDKs are imported (import errors raise here)."""
    for kind in set(kinds):
        module = _module(kind)
        if module is None:
            continue
        fut = _imports.get(module)
        if fut is None and module in sys.modules:
            continue  # imported the ordinary way (tests, another path)
        await asyncio.wrap_future(fut or _import_in_thread(module))


HttpClient = Literal["wire", "aiohttp", "httpx"]


def http_client_kind() -> HttpClient:
    """`PROVIDER_HTTP_CLIENT` picks the OpenAI client: `wire` (default, `openai_wire`: the
    protocol over aiohttp) or the official SDK over `aiohttp` or `httpx` (`openai`)."""
    value = os.environ.get("PROVIDER_HTTP_CLIENT", "wire").strip().lower()
    if value not in ("wire", "aiohttp", "httpx"):
        raise ValueError(f"PROVIDER_HTTP_CLIENT must be wire, aiohttp or httpx, not {value!r}")
    return cast(HttpClient, value)


def _openai(api_key: str, base_url: str | None, timeout: float, max_tokens_field: str) -> ProviderAdapter:
    client = http_client_kind()
    if client == "wire":
        from common.providers.openai_wire import OpenAIWireAdapter
        from common.settings import get_settings

        return OpenAIWireAdapter(
            api_key,
            base_url,
            timeout,
            max_tokens_field=max_tokens_field,
            allowed_hosts=get_settings().allowed_private_hosts,  # connections pinned to vetted addresses
        )
    from common.providers.openai import OpenAIAdapter

    return OpenAIAdapter(api_key, base_url, timeout, http_client=client, max_tokens_field=max_tokens_field)


def _build(kind: str, api_key: str, base_url: str | None, timeout: float) -> ProviderAdapter:
    if kind == "openai":
        return _openai(api_key, base_url, timeout, "max_completion_tokens")
    elif kind == "openai_compatible":
        if not base_url:
            raise ValueError("an openai_compatible provider needs a base_url")
        # Most compatible servers only know `max_tokens`.
        return _openai(api_key, base_url, timeout, "max_tokens")
    elif kind == "cohere":
        from common.providers.cohere import CohereAdapter

        return CohereAdapter(api_key, base_url, timeout)
    elif kind == "gemini":
        from common.providers.gemini import GeminiAdapter

        # Gemini stays on httpx unless aiohttp is asked for explicitly (see GeminiAdapter).
        explicit = os.environ.get("PROVIDER_HTTP_CLIENT", "").strip().lower()
        return GeminiAdapter(
            api_key, base_url, timeout, http_client="aiohttp" if explicit == "aiohttp" else "httpx"
        )
    elif kind == "code":
        raise ValueError("code providers need their code: use provider_adapter")
    raise ValueError(f"unknown provider kind {kind!r}")


def _running_loop_id() -> int | None:
    # Clients hold connections bound to one event loop; never share them across loops.
    try:
        return id(asyncio.get_running_loop())
    except RuntimeError:
        return None


def get_adapter(kind: str, *, api_key: str, base_url: str | None, timeout: float) -> ProviderAdapter:
    """The cached adapter for this provider and key, created on first use."""
    if kind not in KINDS:
        _build(kind, api_key, base_url, timeout)  # raises the precise ValueError
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    key: _CacheKey = (kind, base_url, digest, float(timeout), _running_loop_id())
    adapter = _cache.get(key)
    if adapter is not None:
        _cache.move_to_end(key)
        return adapter
    adapter = _build(kind, api_key, base_url, timeout)
    _cache[key] = adapter
    while len(_cache) > MAX_CACHED_ADAPTERS:
        _, evicted = _cache.popitem(last=False)
        _close_later(evicted, EVICTED_CLOSE_DELAY_S)
    return adapter


def provider_adapter(provider: Provider, *, api_key: str, timeout: float) -> ProviderAdapter:
    """The adapter for a provider record; a `code` provider gets the adapter that streams from
    the sandbox (stateless, so not cached: its code may change between calls)."""
    if provider.kind == "code":
        from common.providers.code import CodeAdapter, CodeSpec

        spec = CodeSpec(provider.python_code or "", dict(provider.config))
        return CodeAdapter(spec, api_key, provider.base_url, timeout)
    return get_adapter(provider.kind, api_key=api_key, base_url=provider.base_url, timeout=timeout)


def _close_later(adapter: ProviderAdapter, delay: float) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop to close on; the garbage collector releases the sockets

    async def close() -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):  # best effort: a failed close must surface nowhere
            await adapter.aclose()

    task = loop.create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def close_all() -> None:
    """Close every cached adapter now (tests, graceful shutdown)."""
    adapters = list(_cache.values())
    _cache.clear()
    for adapter in adapters:
        try:
            await adapter.aclose()
        except Exception:  # noqa: S112 - keep closing the others
            continue
    code = sys.modules.get(_MODULES["code"])
    if code is not None:
        await code.close_sessions()


def cached_count() -> int:
    return len(_cache)
