"""Rate limits per client key and daily budgets per tenant (SPEC §8), both exact across
instances and both answering 429 with `Retry-After`.

The rate limit is a window of `rate_limit_per_minute` requests per key that
starts with the key's first request, counted in Firestore
(`tenants/{t}/ratelimits/{key}`) and spent from blocks each instance leases
(`common.chat.leases`): the deployment-wide count never passes the limit, and
the common request does no I/O. Budgets are reserved per model call
(`common.chat.budget`); `check` refuses a turn before anything is stored when
this instance already knows the day's budget is spent.
"""

from __future__ import annotations

from common.chat import budget
from common.chat.access import Caller
from common.chat.leases import LeasedLimit
from common.errors import RateLimited
from common.settings import get_settings

WINDOW_S = 60.0


def _path(key: str) -> str:
    tenant, key_id = key.split("/", 1)
    return f"tenants/{tenant}/ratelimits/{key_id}"


_requests = LeasedLimit(_path, WINDOW_S)


async def take(tenant: str, key_id: str, per_minute: int) -> float:
    """Take one request; 0 when allowed, else seconds until the key's window resets."""
    return await _requests.take(f"{tenant}/{key_id}", 1.0, float(per_minute))


async def check_rate(c: Caller) -> None:
    """The key's request window alone (`/start` too: every request of a key draws from it)."""
    per_minute = c.app.rate_limit_per_minute or get_settings().rate_limit_per_minute
    wait = await take(c.tenant, c.key.key_id, per_minute)
    if wait > 0:
        raise RateLimited("rate limit exceeded for this client key", retry_after=wait)


async def check(c: Caller) -> None:
    await check_rate(c)
    if budget.has_budget(c.cfg.tenant) and budget.spent_today(c.tenant):
        raise RateLimited("the tenant's daily budget is spent", retry_after=budget.seconds_to_midnight())
