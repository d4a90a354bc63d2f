"""SecretManagerBackend and CachedSecrets through the real async client, against the fake server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcAsyncIOTransport,
)

from common.secrets import CachedSecrets, SecretNotFound, get_secrets, reset_secrets, secret_id
from common.secrets.gcp import SecretChecksumError, SecretManagerBackend
from common.settings import get_settings
from tests.support.fake_secret_manager import FakeSecretManager

PROJECT = "test-project"
SECRET = secret_id("acme", "provider", "openai")
VALUE = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSecretManager]:
    with FakeSecretManager() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(fake: FakeSecretManager) -> None:
    fake.reset()


@pytest.fixture()
async def client(fake: FakeSecretManager) -> AsyncIterator[SecretManagerServiceAsyncClient]:
    # A transport given a channel ignores credentials, so no ADC lookup happens.
    channel = grpc.aio.insecure_channel(fake.address)
    yield SecretManagerServiceAsyncClient(transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel))
    await channel.close()


@pytest.fixture()
def backend(client: SecretManagerServiceAsyncClient) -> SecretManagerBackend:
    return SecretManagerBackend(PROJECT, client=client, timeout=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# SecretManagerBackend -----------------------------------------------------------


async def test_put_creates_the_secret_then_adds_versions(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    assert await backend.put(SECRET, VALUE) == "1"
    assert fake.calls["CreateSecret"] == 1
    assert fake.calls["AddSecretVersion"] == 2  # NOT_FOUND, then the add after creating

    assert await backend.put(SECRET, VALUE + "-2") == "2"
    assert fake.calls["CreateSecret"] == 1
    assert fake.calls["AddSecretVersion"] == 3

    stored = fake.secrets[f"projects/{PROJECT}/secrets/{SECRET}"]
    assert stored.labels == {"tenant": "acme"}
    assert [v.data for v in stored.versions] == [VALUE.encode(), (VALUE + "-2").encode()]


async def test_put_without_tenant_prefix_creates_no_label(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put("jwt-signing-key", VALUE)
    assert fake.secrets[f"projects/{PROJECT}/secrets/jwt-signing-key"].labels == {}


async def test_get_latest_and_pinned_versions(backend: SecretManagerBackend) -> None:
    await backend.put(SECRET, "one")
    await backend.put(SECRET, "two")
    assert await backend.get(SECRET) == "two"
    assert await backend.get(SECRET, "latest") == "two"
    assert await backend.get(SECRET, "1") == "one"
    assert await backend.get(SECRET, "2") == "two"


async def test_non_ascii_value_round_trips(backend: SecretManagerBackend) -> None:
    await backend.put(SECRET, "clé-ü-🔑")
    assert await backend.get(SECRET) == "clé-ü-🔑"


async def test_unknown_secret_or_version_is_secret_not_found(backend: SecretManagerBackend) -> None:
    with pytest.raises(SecretNotFound):
        await backend.get("acme__provider__missing")
    await backend.put(SECRET, VALUE)
    with pytest.raises(SecretNotFound) as info:
        await backend.get(SECRET, "7")
    assert VALUE not in str(info.value)


async def test_checksum_mismatch_is_detected(backend: SecretManagerBackend, fake: FakeSecretManager) -> None:
    await backend.put(SECRET, VALUE)
    fake.corrupt_checksum(SECRET)
    with pytest.raises(SecretChecksumError) as info:
        await backend.get(SECRET)
    assert VALUE not in str(info.value)
    fake.corrupt_checksum(SECRET, on=False)
    assert await backend.get(SECRET) == VALUE


async def test_delete_removes_every_version_and_is_idempotent(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put(SECRET, VALUE)
    await backend.delete(SECRET)
    with pytest.raises(SecretNotFound):
        await backend.get(SECRET, "1")
    await backend.delete(SECRET)  # NOT_FOUND is swallowed
    assert fake.calls["DeleteSecret"] == 2


async def test_ping_makes_one_cheap_call(backend: SecretManagerBackend, fake: FakeSecretManager) -> None:
    for i in range(3):
        await backend.put(f"acme__provider__p{i}", VALUE)
    fake.calls.clear()
    await backend.ping()
    assert dict(fake.calls) == {"ListSecrets": 1}


async def test_every_remote_call_carries_a_timeout(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put(SECRET, VALUE)
    await backend.get(SECRET)
    await backend.ping()
    await backend.delete(SECRET)
    assert {name for name, _ in fake.deadlines} == {
        "CreateSecret",
        "AddSecretVersion",
        "AccessSecretVersion",
        "ListSecrets",
        "DeleteSecret",
    }
    for name, remaining in fake.deadlines:
        assert remaining is not None, name
        assert 0 < remaining <= 5.1, name  # ours (5 s), not the library default (60 s)


async def test_ping_fails_fast_when_the_service_is_unreachable() -> None:
    dead = FakeSecretManager().start()
    address = dead.address
    dead.stop()
    channel = grpc.aio.insecure_channel(address)
    try:
        client = SecretManagerServiceAsyncClient(
            transport=SecretManagerServiceGrpcAsyncIOTransport(channel=channel)
        )
        backend = SecretManagerBackend(PROJECT, client=client, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - RetryError or ServiceUnavailable, either is a failed ping
            await backend.ping()
        assert time.monotonic() - started < 3.0
    finally:
        await channel.close()


async def test_client_is_created_lazily_and_reused() -> None:
    backend = SecretManagerBackend(PROJECT, credentials=AnonymousCredentials())
    assert backend._client is None
    assert backend.client is backend.client
    await backend.aclose()
    assert backend._client is None


async def test_a_client_handed_in_is_not_closed(backend: SecretManagerBackend) -> None:
    await backend.aclose()
    await backend.put(SECRET, VALUE)  # still usable: the fixture owns the channel


def test_names_are_built_explicitly() -> None:
    backend = SecretManagerBackend("p1", client=object())  # type: ignore[arg-type]
    assert backend.version_path("s", "3") == "projects/p1/secrets/s/versions/3"
    assert backend.secret_path("s") == "projects/p1/secrets/s"
    assert "sk-" not in repr(backend)


# CachedSecrets over Secret Manager --------------------------------------------------


async def test_warm_gets_make_no_secret_manager_calls(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put(SECRET, VALUE)
    cached = CachedSecrets(backend, ttl=300)
    assert await cached.get(SECRET) == VALUE
    assert await cached.get(SECRET, "1") == VALUE
    assert fake.calls["AccessSecretVersion"] == 2
    fake.calls.clear()
    for _ in range(5):
        assert await cached.get(SECRET) == VALUE
        assert await cached.get(SECRET, "1") == VALUE
    assert sum(fake.calls.values()) == 0


async def test_latest_is_refetched_after_ttl_but_pinned_is_not(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put(SECRET, "one")
    clock = Clock()
    cached = CachedSecrets(backend, ttl=60, clock=clock)
    assert await cached.get(SECRET) == "one"
    assert await cached.get(SECRET, "1") == "one"
    await backend.put(SECRET, "two")  # a write by another instance: this cache is not told

    clock.now += 59
    assert await cached.get(SECRET) == "one"
    clock.now += 2
    fake.calls.clear()
    assert await cached.get(SECRET) == "two"
    assert await cached.get(SECRET, "1") == "one"
    assert fake.calls["AccessSecretVersion"] == 1


async def test_put_and_delete_invalidate(backend: SecretManagerBackend, fake: FakeSecretManager) -> None:
    cached = CachedSecrets(backend, ttl=300)
    assert await cached.put(SECRET, "one") == "1"
    assert await cached.get(SECRET) == "one"
    assert await cached.put(SECRET, "two") == "2"
    assert await cached.get(SECRET) == "two"

    fake.calls.clear()
    assert await cached.get(SECRET, "2") == "two"  # primed by put: versions are immutable
    assert fake.calls["AccessSecretVersion"] == 0

    await cached.delete(SECRET)
    with pytest.raises(SecretNotFound):
        await cached.get(SECRET)
    with pytest.raises(SecretNotFound):
        await cached.get(SECRET, "2")


async def test_concurrent_misses_share_one_call(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    await backend.put(SECRET, VALUE)
    await backend.put("acme__provider__other", "other")
    cached = CachedSecrets(backend, ttl=300)
    fake.calls.clear()
    results = await asyncio.gather(
        *(cached.get(SECRET) for _ in range(20)), *(cached.get("acme__provider__other") for _ in range(20))
    )
    assert results == [VALUE] * 20 + ["other"] * 20
    assert fake.calls["AccessSecretVersion"] == 2


async def test_failures_are_shared_but_not_cached(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    cached = CachedSecrets(backend, ttl=300)
    results = await asyncio.gather(*(cached.get(SECRET) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, SecretNotFound) for r in results)
    assert fake.calls["AccessSecretVersion"] == 1
    await backend.put(SECRET, VALUE)
    assert await cached.get(SECRET) == VALUE


def test_get_secrets_builds_the_gcp_backend_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_BACKEND", "gcp")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p-42")
    get_settings.cache_clear()
    reset_secrets()
    try:
        secrets = get_secrets()
        assert get_secrets() is secrets
        assert isinstance(secrets.backend, SecretManagerBackend)
        assert secrets.backend.project == "p-42"
        assert secrets.backend._client is None  # no client (nor credentials) until first use
    finally:
        reset_secrets()
        monkeypatch.undo()
        get_settings.cache_clear()


# CachedSecrets edge cases, over a controllable in-memory backend ----------------------


class GatedBackend:
    """Holds every get until `gate` is set, to make races deterministic."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.gets = 0
        self.gate = asyncio.Event()

    async def get(self, secret: str, version: str = "latest") -> str:
        self.gets += 1
        snapshot = list(self.values.get(secret, []))
        await self.gate.wait()
        if not snapshot:
            raise SecretNotFound(secret)
        return snapshot[-1] if version == "latest" else snapshot[int(version) - 1]

    async def put(self, secret: str, value: str) -> str:
        self.values.setdefault(secret, []).append(value)
        return str(len(self.values[secret]))

    async def delete(self, secret: str) -> None:
        self.values.pop(secret, None)

    async def ping(self) -> None:
        return None


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    backend = GatedBackend()
    backend.values[SECRET] = [VALUE]
    cached = CachedSecrets(backend, ttl=300)
    first = asyncio.ensure_future(cached.get(SECRET))
    second = asyncio.ensure_future(cached.get(SECRET))
    await until(lambda: backend.gets == 1)
    first.cancel()
    await asyncio.sleep(0)
    backend.gate.set()
    assert await second == VALUE
    assert first.cancelled()
    assert backend.gets == 1


async def test_a_fetch_that_straddles_a_put_is_not_cached() -> None:
    backend = GatedBackend()
    backend.values[SECRET] = ["old"]
    cached = CachedSecrets(backend, ttl=300)
    stale = asyncio.ensure_future(cached.get(SECRET))
    await until(lambda: backend.gets == 1)  # the fetch has read "old" and waits
    await cached.put(SECRET, "new")
    fresh = asyncio.ensure_future(cached.get(SECRET))  # must not join the stale fetch
    await until(lambda: backend.gets == 2)
    backend.gate.set()
    assert await stale == "old"
    assert await fresh == "new"
    assert await cached.get(SECRET) == "new"
    assert backend.gets == 2


async def test_pinned_entries_are_bounded_lru() -> None:
    backend = GatedBackend()
    backend.gate.set()
    backend.values[SECRET] = ["a", "b", "c"]
    cached = CachedSecrets(backend, ttl=300, max_entries=2)
    await cached.get(SECRET, "1")
    await cached.get(SECRET, "2")
    await cached.get(SECRET, "1")  # refreshes "1"
    await cached.get(SECRET, "3")  # evicts "2"
    backend.gets = 0
    await cached.get(SECRET, "1")
    await cached.get(SECRET, "3")
    assert backend.gets == 0
    await cached.get(SECRET, "2")
    assert backend.gets == 1


async def test_repr_never_shows_values() -> None:
    backend = GatedBackend()
    backend.gate.set()
    backend.values[SECRET] = [VALUE]
    cached = CachedSecrets(backend, ttl=300)
    await cached.get(SECRET)
    assert VALUE not in repr(cached)
