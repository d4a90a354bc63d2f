"""Code providers end to end: the sandbox as its own process (environment built from
nothing) and a functions process with `ALLOW_CODE_PROVIDERS=1` that calls it.

The session's main stack keeps code providers off (its tests check the refusal);
this second functions process shares its emulators, secrets file and aimock.
Limits are small so the escape tests finish quickly.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.admin.helpers import Admin, platform_admin
from tests.e2e.conftest import Stack
from tests.support.services import Service, start_functions, start_sandbox

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
async def chttp(code_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=code_stack.url, timeout=60) as client:
        yield client


@pytest.fixture()
async def cplatform(chttp: httpx.AsyncClient) -> Admin:
    return await platform_admin(chttp)
