"""Turn Firestore outages into 503s with Retry-After (SPEC §8), in one place.

The client library retries UNAVAILABLE for up to a minute by itself; on the
request path we cap every guarded operation at `FIRESTORE_DEADLINE_S` (8 s
by default) so an outage answers 503 quickly instead of holding the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from common.errors import DependencyUnavailable
from common.settings import get_settings

_TRANSIENT = (
    "ServiceUnavailable",
    "DeadlineExceeded",
    "RetryError",
    "InternalServerError",
    "Unknown",
    "AioRpcError",
    "TimeoutError",
    "ConnectionError",
    "OSError",
)


def is_outage(exc: BaseException) -> bool:
    return any(cls.__name__ in _TRANSIENT for cls in type(exc).__mro__)


@asynccontextmanager
async def firestore_guard() -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(get_settings().firestore_deadline_s):
            yield
    except Exception as exc:
        if is_outage(exc):
            raise DependencyUnavailable("the database is unavailable; retry shortly", retry_after=2) from None
        raise
