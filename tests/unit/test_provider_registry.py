"""The registry imports SDKs lazily and reuses one adapter per provider and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.providers import registry

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_registry_imports_no_sdk() -> None:
    code = (
        "import sys, common.providers.registry, common.providers.resilience\n"
        "print([m for m in ('openai', 'cohere', 'google.genai') if m in sys.modules])"
    )

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_a_gemini_adapter_does_not_import_openai_or_cohere() -> None:
    code = (
        "import sys\n"
        "from common.providers.registry import get_adapter\n"
        "get_adapter('gemini', api_key='k-123456', base_url='http://127.0.0.1:9', timeout=1.0)\n"
        "print([m for m in ('openai', 'cohere', 'google.genai') if m in sys.modules])"
    )

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "['google.genai']"


async def test_adapters_are_cached_per_kind_base_url_and_key() -> None:
    try:
        a = registry.get_adapter(
            "openai", api_key="key-one-1234", base_url="http://127.0.0.1:9/v1", timeout=5
        )
        b = registry.get_adapter(
            "openai", api_key="key-one-1234", base_url="http://127.0.0.1:9/v1", timeout=5
        )
        c = registry.get_adapter(
            "openai", api_key="key-two-1234", base_url="http://127.0.0.1:9/v1", timeout=5
        )
        d = registry.get_adapter("cohere", api_key="key-one-1234", base_url="http://127.0.0.1:9", timeout=5)

        assert a is b
        assert a is not c
        assert d is not a
    finally:
        await registry.close_all()


async def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "MAX_CACHED_ADAPTERS", 2)
    monkeypatch.setattr(registry, "EVICTED_CLOSE_DELAY_S", 0.0)
    try:
        first = registry.get_adapter("openai", api_key="key-a-123456", base_url="http://h/v1", timeout=5)
        registry.get_adapter("openai", api_key="key-b-123456", base_url="http://h/v1", timeout=5)
        registry.get_adapter("openai", api_key="key-c-123456", base_url="http://h/v1", timeout=5)

        assert registry.cached_count() == 2
        again = registry.get_adapter("openai", api_key="key-a-123456", base_url="http://h/v1", timeout=5)
        assert again is not first  # the oldest was evicted and is rebuilt
    finally:
        await registry.close_all()


@pytest.mark.parametrize("kind", ["code", "anthropic", ""])
def test_unknown_or_code_kind_is_rejected(kind: str) -> None:
    with pytest.raises(ValueError):
        registry.get_adapter(kind, api_key="k-123456", base_url=None, timeout=5)


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(ValueError):
        registry.get_adapter("openai_compatible", api_key="k-123456", base_url=None, timeout=5)


def test_http_client_kind_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVIDER_HTTP_CLIENT", raising=False)
    assert registry.http_client_kind() == "wire"
    assert type(registry.get_adapter("openai", api_key="k-123456", base_url=None, timeout=5)).__name__ == (
        "OpenAIWireAdapter"
    )
    monkeypatch.setenv("PROVIDER_HTTP_CLIENT", "aiohttp")
    assert type(registry.get_adapter("openai", api_key="k-654321", base_url=None, timeout=5)).__name__ == (
        "OpenAIAdapter"
    )
    monkeypatch.setenv("PROVIDER_HTTP_CLIENT", "httpx")
    assert registry.http_client_kind() == "httpx"
    monkeypatch.setenv("PROVIDER_HTTP_CLIENT", "curl")
    with pytest.raises(ValueError):
        registry.http_client_kind()


def test_an_sdk_is_imported_off_the_event_loop_which_keeps_running() -> None:
    code = (
        "import asyncio, sys\n"
        "from common.providers import registry\n"
        "async def main():\n"
        "    ticks = 0\n"
        "    async def tick():\n"
        "        nonlocal ticks\n"
        "        while True:\n"
        "            ticks += 1\n"
        "            await asyncio.sleep(0.001)\n"
        "    ticker = asyncio.create_task(tick())\n"
        "    registry.preload(['openai'])\n"
        "    assert 'openai' not in sys.modules or not registry._imports['common.providers.openai'].done()\n"
        "    await registry.ensure_imported(['openai'])\n"
        "    ticker.cancel()\n"
        "    print(ticks, [m for m in ('openai', 'cohere', 'google.genai') if m in sys.modules])\n"
        "asyncio.run(main())\n"
    )

    env = {**os.environ, "PROVIDER_HTTP_CLIENT": "aiohttp"}  # the official SDK's client
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )

    ticks, sdks = out.stdout.strip().split(" ", 1)
    assert sdks == "['openai']"
    assert int(ticks) >= 3  # the loop ran while the SDK was imported (~0.4 s or more)


def test_the_default_openai_client_imports_no_sdk() -> None:
    code = (
        "import asyncio, sys\n"
        "from common.providers import registry\n"
        "async def main():\n"
        "    registry.preload(['openai', 'openai_compatible'])\n"
        "    await registry.ensure_imported(['openai', 'openai_compatible'])\n"
        "    registry.get_adapter('openai', api_key='k-123456', base_url=None, timeout=5)\n"
        "    print([m for m in ('openai', 'httpx2', 'cohere', 'google.genai') if m in sys.modules])\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROVIDER_HTTP_CLIENT"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


async def test_an_sdk_import_error_surfaces_where_it_is_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._MODULES, "broken", "common.providers.no_such_module")
    monkeypatch.setattr(registry, "_imports", {})

    registry.preload(["broken"])

    with pytest.raises(ModuleNotFoundError):
        await registry.ensure_imported(["broken"])


async def test_kinds_without_an_sdk_and_imported_sdks_need_no_wait() -> None:
    import common.providers.cohere  # noqa: F401 - already imported the ordinary way

    await registry.ensure_imported(["no-such-kind", "cohere"])

    assert "common.providers.cohere" not in registry._imports
