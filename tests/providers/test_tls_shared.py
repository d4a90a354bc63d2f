"""A new adapter (a tenant's new key or base_url) loads no CA bundle on the event loop.

Each SDK would build its own TLS context per client: 30-80 ms of CPU each, three
of them for a Gemini client, stalling every other stream on the instance. The
adapters share one context per trust source (`common/providers/tls.py`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest

from common.providers.cohere import CohereAdapter
from common.providers.gemini import GeminiAdapter
from common.providers.openai import OpenAIAdapter
from common.providers.openai_wire import OpenAIWireAdapter
from common.providers.tls import httpx2_context, httpx_context, system_context


def _wire(key: str) -> OpenAIWireAdapter:
    adapter = OpenAIWireAdapter(key, "https://api.example.com/v1", 30)
    adapter._client()  # its session and connector, made on first use
    return adapter


BUILDERS: dict[str, Callable[[str], Any]] = {
    "openai-wire": _wire,
    "openai-aiohttp": lambda key: OpenAIAdapter(key, "https://api.example.com/v1", 30, http_client="aiohttp"),
    "openai-httpx": lambda key: OpenAIAdapter(key, "https://api.example.com/v1", 30, http_client="httpx"),
    "cohere": lambda key: CohereAdapter(key, "https://api.example.com", 30),
    "gemini": lambda key: GeminiAdapter(key, "https://api.example.com", 30),
    "gemini-aiohttp": lambda key: GeminiAdapter(key, "https://api.example.com", 30, http_client="aiohttp"),
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
async def test_new_adapters_load_no_ca_bundle(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    for name in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
        original = getattr(ssl.SSLContext, name)

        def counted(self: ssl.SSLContext, *args: Any, _name: str = name, _orig: Any = original) -> Any:
            loads.append(_name)
            return _orig(self, *args)

        monkeypatch.setattr(ssl.SSLContext, name, counted)
    adapters = [BUILDERS[kind](f"sk-tenant-{i}") for i in range(3)]
    try:
        assert loads == []
    finally:
        for adapter in adapters:
            await adapter.aclose()


def test_the_shared_contexts_verify_certificates() -> None:
    for ctx in (httpx_context(), httpx2_context(), system_context()):
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        assert ctx.cert_store_stats()["x509_ca"] > 0
