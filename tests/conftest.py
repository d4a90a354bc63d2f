"""Session-wide real services, started on demand on free loopback ports and stopped by PID."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.e2e.conftest import Stack, stack_env, use_env_in_process
from tests.support.services import (
    Aimock,
    Service,
    start_aimock,
    start_firestore,
    start_functions,
    start_storage,
)

PROJECT = "test-project"


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[Service]:
    svc = start_firestore()
    os.environ["FIRESTORE_EMULATOR_HOST"] = svc.host
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[Service]:
    svc = start_storage()
    os.environ["STORAGE_EMULATOR_HOST"] = svc.url
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def aimock_server() -> Iterator[Service]:
    svc = start_aimock()
    yield svc
    svc.stop()


@pytest.fixture()
def mock(aimock_server: Service) -> Aimock:
    """aimock's control API; fixtures are global, so tests use unique message markers."""
    return Aimock(aimock_server.url)


# The whole stack (functions under functions-framework + emulators + aimock), shared by
# tests/e2e, tests/admin and tests/tools: one functions process per session.
@pytest.fixture(scope="session")
def stack(
    firestore_emulator: Service, storage_emulator: Service, aimock_server: Service, tmp_path_factory
) -> Iterator[Stack]:
    secrets_file = tmp_path_factory.mktemp("secrets", numbered=True) / "secrets.json"
    env = stack_env(firestore_emulator, storage_emulator, str(secrets_file))
    use_env_in_process(env)
    from common.provision import ensure_bucket

    ensure_bucket()  # a deployed project has its config bucket (make bootstrap creates it)
    svc = start_functions(env)
    # Providers reach aimock as `localhost` (the one ALLOWED_PRIVATE_HOSTS entry of the stack):
    # provider base_urls pass the same address guard as webhooks, and 127.0.0.1 stays refused.
    yield Stack(svc, Aimock(f"http://localhost:{aimock_server.port}"), env)
    svc.stop()


@pytest.fixture()
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client
