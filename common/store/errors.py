"""Turn Firestore outages into 503s with Retry-After (SPEC §8), in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from common.errors import DependencyUnavailable

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
        yield
    except Exception as exc:
        if is_outage(exc):
            raise DependencyUnavailable("the database is unavailable; retry shortly", retry_after=2) from None
        raise
