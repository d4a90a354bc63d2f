"""Leases from one shared counter never sum past its limit, however many instances ask at once."""

from __future__ import annotations

import asyncio
import secrets

from common.chat.leases import LeasedLimit
from tests.support.services import firestore_impl


async def test_three_instances_spend_exactly_the_limit(stack):
    path = f"leasetest/{secrets.token_hex(6)}"
    instances = [LeasedLimit(lambda _k: path, 60.0) for _ in range(3)]

    async def spend(limit: LeasedLimit) -> int:
        allowed = 0
        for _ in range(120):
            if await limit.take("k", 1.0, 100.0) == 0:
                allowed += 1
        return allowed

    counts = await asyncio.gather(*(spend(i) for i in instances for _ in range(4)))
    if firestore_impl() == "gcloud":
        assert sum(counts) == 100, counts
    else:  # the npm emulator returns no increment results: leases fall back to a read and grant less
        assert 0 < sum(counts) <= 100, counts


async def test_a_fresh_pool_stops_waiting_for_leases_after_a_few(stack, monkeypatch):
    """A new instance knows no rate yet: its blocks start small, and each request that finds
    the pool empty waits for a lease round trip. The block doubles after each such wait, so
    a burst on a cold instance waits a handful of times, not once per few requests."""
    waited = 0
    real = LeasedLimit._lease

    async def counted(self, key, pool, target, limit, **kw):  # the request path's leases only
        nonlocal waited
        waited += 1
        await real(self, key, pool, target, limit, **kw)

    path = f"leasetest/{secrets.token_hex(6)}"
    limit = LeasedLimit(lambda _k: path, 60.0)
    monkeypatch.setattr(limit, "_refill_later", lambda *a: None)  # no background help
    monkeypatch.setattr(LeasedLimit, "_lease", counted)
    for _ in range(300):
        assert await limit.take("k", 1.0, 1e9) == 0
    assert waited <= 10, waited  # about log2(300); 21 without the doubling
