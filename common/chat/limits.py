"""Rate limits per client key and daily budgets per tenant, checked before any
upstream call (SPEC §8); both answer 429 with `Retry-After`.

Rate limits are token buckets held in each instance's memory: they cost no
I/O on the request path, and the effective limit across a deployment is the
per-key limit times the number of instances (size `max-instances`
accordingly). Budgets compare today's usage counters (UTC day, read at most
every `budget_cache_s` seconds (setting `BUDGET_CACHE_S`) per tenant and instance) with the tenant's
`daily_token_budget` / `daily_cost_budget`; they stop new turns once a
budget is spent, so a tenant can overshoot by the turns in flight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.chat.access import Caller
from common.errors import RateLimited
from common.settings import get_settings
from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard

_MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


_buckets: dict[str, _Bucket] = {}
_spent: dict[str, tuple[float, str, int, float]] = {}  # tenant -> (read at, day, tokens, cost)


def take(key_id: str, per_minute: int, now: float | None = None) -> float:
    """Take one token; return 0 when allowed, else seconds until one is available."""
    now = time.monotonic() if now is None else now
    rate = per_minute / 60.0
    bucket = _buckets.get(key_id)
    if bucket is None:
        if len(_buckets) >= _MAX_BUCKETS:
            _buckets.pop(next(iter(_buckets)))
        bucket = _buckets[key_id] = _Bucket(float(per_minute), now)
    bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.updated) * rate)
    bucket.updated = now
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        return 0.0
    return (1 - bucket.tokens) / rate


async def _today(tenant: str) -> tuple[int, float]:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    cached = _spent.get(tenant)
    if cached and cached[1] == day and time.monotonic() - cached[0] < get_settings().budget_cache_s:
        return cached[2], cached[3]
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = tenant_collection(tenant, "usage").where(filter=FieldFilter("day", "==", day))
    tokens, cost = 0, 0.0
    async with firestore_guard():
        async for doc in query.stream(timeout=RPC_TIMEOUT_S):
            data = doc.to_dict() or {}
            tokens += int(data.get("input_tokens", 0)) + int(data.get("output_tokens", 0))
            cost += float(data.get("cost", 0.0))
    _spent[tenant] = (time.monotonic(), day, tokens, cost)
    return tokens, cost


def _seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


async def check(c: Caller) -> None:
    wait = take(c.key.key_id, c.app.rate_limit_per_minute or get_settings().rate_limit_per_minute)
    if wait > 0:
        raise RateLimited("rate limit exceeded for this client key", retry_after=wait)
    tenant = c.cfg.tenant
    if tenant is None or (tenant.daily_token_budget is None and tenant.daily_cost_budget is None):
        return
    tokens, cost = await _today(c.tenant)
    if (tenant.daily_token_budget is not None and tokens >= tenant.daily_token_budget) or (
        tenant.daily_cost_budget is not None and cost >= tenant.daily_cost_budget
    ):
        raise RateLimited("the tenant's daily budget is spent", retry_after=_seconds_to_midnight())
