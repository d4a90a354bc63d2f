"""Provider kind -> adapter, importing each vendor SDK only when a request needs it.

Importing this module imports no SDK: a `health` or Gemini-only instance never
pays for openai or cohere at cold start. Adapters (and their HTTP connection
pools) are cached per (kind, base_url, key hash, timeout, event loop) so one
instance reuses its clients across requests; the cache is a small LRU, and
evicted adapters are closed after a grace period so a stream still using one
is not cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections import OrderedDict
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


def http_client_kind() -> Literal["aiohttp", "httpx"]:
    """`PROVIDER_HTTP_CLIENT=aiohttp|httpx` picks the OpenAI transport (benchmarks compare them)."""
    value = os.environ.get("PROVIDER_HTTP_CLIENT", "aiohttp").strip().lower()
    if value not in ("aiohttp", "httpx"):
        raise ValueError(f"PROVIDER_HTTP_CLIENT must be aiohttp or httpx, not {value!r}")
    return cast(Literal["aiohttp", "httpx"], value)


def _build(kind: str, api_key: str, base_url: str | None, timeout: float) -> ProviderAdapter:
    if kind == "openai":
        from common.providers.openai import OpenAIAdapter

        return OpenAIAdapter(api_key, base_url, timeout, http_client=http_client_kind())
    elif kind == "openai_compatible":
        if not base_url:
            raise ValueError("an openai_compatible provider needs a base_url")
        from common.providers.openai import OpenAIAdapter

        return OpenAIAdapter(
            api_key, base_url, timeout, http_client=http_client_kind(), max_tokens_field="max_tokens"
        )
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


def cached_count() -> int:
    return len(_cache)
