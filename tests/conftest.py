"""Session-wide real services, started on demand on free loopback ports and stopped by PID."""

from __future__ import annotations

import os
import secrets
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
    start_sandbox,
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


# Code providers: the sandbox as its own process (environment built from nothing) and a
# second functions process with `ALLOW_CODE_PROVIDERS=1` that calls it (tests/sandbox and
# tests/ui). The main stack keeps code providers off (its tests check the refusal); this
# one shares its emulators, secrets file and aimock. Limits are small so the escape tests
# finish quickly.
# The CPU limit is far below the wall clock: on a loaded machine a CPU second takes many.
SANDBOX_LIMITS = {
    "SANDBOX_CPU_S": "1",
    "SANDBOX_WALL_S": "15",
    "SANDBOX_MEMORY_MB": "1024",
    "SANDBOX_MAX_PROCS": "32",
    "SANDBOX_OUTPUT_BYTES": str(1024 * 1024),
    "SANDBOX_WARM": "1",
}


@pytest.fixture(scope="session")
def sandbox_secret() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def sandbox(sandbox_secret: str) -> Iterator[Service]:
    svc = start_sandbox({"SANDBOX_SECRET": sandbox_secret, **SANDBOX_LIMITS})
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def code_stack(stack: Stack, sandbox: Service, sandbox_secret: str) -> Iterator[Stack]:
    env = {
        **stack.env,
        "SANDBOX_URL": sandbox.url,
        "SANDBOX_SECRET": sandbox_secret,
        "ALLOW_CODE_PROVIDERS": "1",
        "UPSTREAM_TIMEOUT_S": "60",  # above the sandbox's wall clock: the sandbox ends a slow call
    }
    svc = start_functions(env)
    yield Stack(svc, stack.aimock, env)
    svc.stop()


@pytest.fixture()
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client
