"""LocalFileBackend: a private JSON file with Secret Manager's version model."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from common.secrets import CachedSecrets, SecretNotFound, get_secrets, reset_secrets
from common.secrets.local import InsecureSecretsFile, LocalFileBackend, LocalSecretsError
from common.settings import get_settings

SECRET = "acme__provider__openai"
VALUE = "sk-local-fedcba9876543210"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "gcp-assistants" / "secrets.json"


@pytest.fixture()
def backend(path: Path) -> LocalFileBackend:
    return LocalFileBackend(path)


async def test_file_is_created_0600_in_a_0700_directory(backend: LocalFileBackend, path: Path) -> None:
    assert not path.exists()
    await backend.put(SECRET, VALUE)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {"secrets": {SECRET: {"versions": [VALUE]}}}


async def test_versions_latest_and_pinned(backend: LocalFileBackend) -> None:
    assert await backend.put(SECRET, "one") == "1"
    assert await backend.put(SECRET, "two") == "2"
    assert await backend.get(SECRET) == "two"
    assert await backend.get(SECRET, "latest") == "two"
    assert await backend.get(SECRET, "1") == "one"
    assert await backend.get(SECRET, "2") == "two"
    for missing in ("0", "3", "x", "-1"):
        with pytest.raises(SecretNotFound):
            await backend.get(SECRET, missing)


async def test_missing_file_or_secret_is_not_found_and_reading_creates_nothing(
    backend: LocalFileBackend, path: Path
) -> None:
    with pytest.raises(SecretNotFound):
        await backend.get(SECRET)
    await backend.ping()
    assert not path.parent.exists()


async def test_delete(backend: LocalFileBackend) -> None:
    await backend.put(SECRET, VALUE)
    await backend.put("acme__provider__other", "keep")
    await backend.delete(SECRET)
    await backend.delete(SECRET)  # idempotent
    with pytest.raises(SecretNotFound):
        await backend.get(SECRET)
    assert await backend.get("acme__provider__other") == "keep"


@pytest.mark.parametrize("unsafe", [0o644, 0o640, 0o604, 0o660])
async def test_refuses_a_file_others_can_read(backend: LocalFileBackend, path: Path, unsafe: int) -> None:
    await backend.put(SECRET, VALUE)
    path.chmod(unsafe)
    with pytest.raises(InsecureSecretsFile) as info:
        await backend.get(SECRET)
    message = str(info.value)
    assert "chmod 600" in message
    assert str(path) in message
    assert VALUE not in message
    with pytest.raises(InsecureSecretsFile):
        await backend.put(SECRET, "more")  # nor writes into it
    with pytest.raises(InsecureSecretsFile):
        await backend.ping()
    path.chmod(0o600)
    assert await backend.get(SECRET) == VALUE


async def test_a_failed_write_leaves_the_previous_file_intact(
    backend: LocalFileBackend, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend.put(SECRET, VALUE)
    before = path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        await backend.put(SECRET, "never")
    monkeypatch.undo()

    assert path.read_bytes() == before
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert await backend.get(SECRET) == VALUE


async def test_concurrent_puts_lose_nothing(backend: LocalFileBackend, path: Path) -> None:
    versions = await asyncio.gather(*(backend.put(SECRET, f"v{i}") for i in range(20)))
    assert sorted(versions, key=int) == [str(i) for i in range(1, 21)]
    stored = json.loads(path.read_text())["secrets"][SECRET]["versions"]
    assert sorted(stored) == sorted(f"v{i}" for i in range(20))


async def test_two_backends_on_one_file_lose_nothing(path: Path) -> None:
    # Separate instances have separate asyncio locks: only the file lock serialises them.
    a, b = LocalFileBackend(path), LocalFileBackend(path)
    await asyncio.gather(*(x.put(SECRET, f"v{i}") for i in range(10) for x in (a, b)))
    assert len(json.loads(path.read_text())["secrets"][SECRET]["versions"]) == 20


async def test_values_never_appear_in_repr_or_errors(backend: LocalFileBackend, path: Path) -> None:
    await backend.put(SECRET, VALUE)
    cached = CachedSecrets(backend, ttl=300)
    await cached.get(SECRET)
    assert VALUE not in repr(backend)
    assert VALUE not in repr(cached)
    with pytest.raises(SecretNotFound) as not_found:
        await cached.get(SECRET, "9")
    assert VALUE not in str(not_found.value)

    path.write_text(json.dumps({"secrets": {SECRET: {"versions": [VALUE]}}})[:-5])  # truncated
    with pytest.raises(LocalSecretsError) as broken:
        await backend.get(SECRET)
    assert VALUE not in str(broken.value)
    assert broken.value.__suppress_context__  # the JSON error (which holds the document) is not chained


async def test_refuses_a_symlink(backend: LocalFileBackend, path: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"secrets": {SECRET: {"versions": [VALUE]}}}))
    target.chmod(0o600)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(OSError):
        await backend.get(SECRET)


async def test_cached_local_backend(backend: LocalFileBackend, path: Path) -> None:
    cached = CachedSecrets(backend, ttl=300)
    assert await cached.put(SECRET, "one") == "1"
    assert await cached.get(SECRET) == "one"
    path.unlink()  # a warm get does not touch the file
    assert await cached.get(SECRET) == "one"
    assert await cached.get(SECRET, "1") == "one"


def test_get_secrets_uses_the_local_file_when_configured(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "local")
    monkeypatch.setenv("LOCAL_SECRETS_FILE", str(path))
    monkeypatch.setenv("SECRET_TTL_S", "42")
    get_settings.cache_clear()
    reset_secrets()
    try:
        secrets = get_secrets()
        assert get_secrets() is secrets
        assert isinstance(secrets.backend, LocalFileBackend)
        assert secrets.backend.path == path
        assert secrets.ttl == 42
        reset_secrets()
        assert get_secrets() is not secrets
    finally:
        reset_secrets()
        monkeypatch.undo()
        get_settings.cache_clear()


def test_unknown_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "vault")
    get_settings.cache_clear()
    reset_secrets()
    try:
        with pytest.raises(ValueError, match="SECRETS_BACKEND"):
            get_secrets()
    finally:
        reset_secrets()
        monkeypatch.undo()
        get_settings.cache_clear()
