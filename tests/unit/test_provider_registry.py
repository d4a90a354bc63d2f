"""The registry imports SDKs lazily and reuses one adapter per provider and key."""

from __future__ import annotations

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
    monkeypatch.setenv("PROVIDER_HTTP_CLIENT", "httpx")
    assert registry.http_client_kind() == "httpx"
    monkeypatch.setenv("PROVIDER_HTTP_CLIENT", "curl")
    with pytest.raises(ValueError):
        registry.http_client_kind()
