"""Code providers end to end against `code_stack` (tests/conftest.py: the sandbox as its
own process and a functions process with `ALLOW_CODE_PROVIDERS=1` that calls it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.admin.helpers import Admin, platform_admin
from tests.e2e.conftest import Stack


@pytest.fixture()
async def chttp(code_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=code_stack.url, timeout=60) as client:
        yield client


@pytest.fixture()
async def cplatform(chttp: httpx.AsyncClient) -> Admin:
    return await platform_admin(chttp)
