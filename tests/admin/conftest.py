"""Admin tests run against the same local stack as tests/e2e (functions under
functions-framework, Firestore and GCS emulators, aimock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.admin.header_proxy import HeaderProxy
from tests.admin.helpers import Admin, platform_admin
from tests.support.services import Service


@pytest.fixture(scope="session")
def header_proxy(aimock_server: Service) -> Iterator[HeaderProxy]:
    proxy = HeaderProxy(aimock_server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture()
async def platform(http: httpx.AsyncClient) -> AsyncIterator[Admin]:
    yield await platform_admin(http)
