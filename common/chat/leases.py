"""Counters shared by every instance, spent locally from leased blocks.

A limit that must hold across a deployment (a client key's requests per
window, a tenant's tokens per day) is one Firestore counter. An instance
never asks it per request: it leases a block of units, spends the block from
memory, and leases the next one in the background when it runs low. Blocks
are sized from the recent rate: a busy key leases bigger blocks. A new pool
has no rate yet, so its blocks double each time a request had to wait for
one (slow start): a burst on a cold instance waits a few times, not per block.

A lease is one write with no transaction: an atomic increment of the
counter by the units asked for, whose result Firestore returns
(`transform_results`). The lease owns the units numbered (total - asked,
total]; only those up to the limit are valid. So the valid units of all
leases never sum past the limit, however many instances ask at once, and
nothing waits on a lock (a read-modify-write transaction would serialise
every instance on one document).

Units an instance leased and did not spend expire with the window (giving
them back could hand the same numbers out twice); this is the price of
exactness: a unit leased by one instance is unusable by another, bounded by
the block size (at most a tenth of the limit, about two seconds of traffic).
Windows (for rate limits) are fixed, `window_s` long, phased by the key's
first request (an immutable anchor document each instance reads once).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.store.db import RPC_TIMEOUT_S, get_db
from common.store.errors import firestore_guard

LEASE_HORIZON_S = 2.0  # a block should last about this long at the recent rate


@dataclass(frozen=True)
class Grant:
    units: float
    left: float  # what remained under the limit after this lease


async def lease(path: str, want: float, limit: float) -> Grant:
    """Take up to `want` units of `limit` from the counter at `path` (one atomic increment)."""
    from google.cloud.firestore import Increment

    ref = get_db().document(path)
    async with firestore_guard():
        result = await ref.set({"granted": Increment(float(want))}, merge=True, timeout=RPC_TIMEOUT_S)
        if result.transform_results:
            value = result.transform_results[0]
            total = float(value.double_value or value.integer_value)
        else:  # an emulator that does not return it: a later read can only be higher (grants less)
            snap = await ref.get(timeout=RPC_TIMEOUT_S)
            total = float((snap.to_dict() or {}).get("granted", want))
    units = max(0.0, min(want, limit - (total - want)))
    return Grant(units, max(0.0, limit - total))


async def anchor(path: str) -> float:
    """The window phase of a key: when its first request came (created once, never changed)."""
    from google.api_core.exceptions import AlreadyExists

    ref = get_db().document(path)
    async with firestore_guard():
        with contextlib.suppress(AlreadyExists):  # another instance anchored it first
            await ref.create({"anchor": time.time()}, timeout=RPC_TIMEOUT_S)
        snap = await ref.get(timeout=RPC_TIMEOUT_S)
    return float((snap.to_dict() or {}).get("anchor", time.time()))


@dataclass
class Pool:
    """What one instance holds of one shared counter."""

    units: float = 0.0
    window_end: float = 0.0
    exhausted: bool = False  # the window had nothing left at the last lease
    exhausted_at: float = 0.0
    rate: float = 0.0  # units per second, smoothed
    last: float = field(default_factory=time.monotonic)
    refill: asyncio.Task[None] | None = None
    # Slow start: a new pool knows no rate, so its first blocks are small; each lease a request
    # had to wait for is at least twice the last (up to a tenth of the limit; see `_lease`).
    floor: float = 1.0

    def observe(self, units: float) -> None:
        now = time.monotonic()
        dt = max(1e-3, now - self.last)
        self.last = now
        alpha = min(1.0, dt / 10.0)  # about a 10 s memory
        self.rate = (1 - alpha) * self.rate + alpha * (units / dt)

    def block(self, need: float, limit: float) -> float:
        """How much to lease: enough for the horizon at the recent rate, at most a tenth of the limit."""
        by_rate = max(math.ceil(self.rate * LEASE_HORIZON_S) + 1, self.floor)
        return max(need, min(max(1.0, limit / 10), by_rate))

    def expire(self, now: float) -> None:
        if now >= self.window_end:
            self.units, self.exhausted = 0.0, False


class LeasedLimit:
    """A family of shared counters (one per key), each spent from leased blocks."""

    def __init__(
        self,
        path_of: Callable[[str], str],
        window_s: float | None,
        *,
        recheck_s: float = math.inf,
        max_pools: int = 50_000,
    ):
        """`recheck_s`: how long an exhausted counter is trusted before asking again (a raised
        limit is seen after that long)."""
        self._path_of = path_of
        self._window_s = window_s
        self._recheck_s = recheck_s
        self._pools: dict[str, Pool] = {}
        self._max = max_pools
        self._locks: dict[str, asyncio.Lock] = {}
        self._anchors: dict[str, float] = {}

    def _pool(self, key: str) -> Pool:
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= self._max:
                evicted = next(iter(self._pools))
                self._pools.pop(evicted)
                self._locks.pop(evicted, None)
            pool = self._pools[key] = Pool()
        return pool

    async def take(self, key: str, units: float, limit: float) -> float:
        """Spend `units`; 0 when allowed, else seconds until the window resets (inf: never today)."""
        pool = self._pool(key)
        pool.observe(units)
        now = time.time()
        pool.expire(now)
        if pool.exhausted and now - pool.exhausted_at >= self._recheck_s:
            pool.exhausted = False
        if pool.units < units:
            if pool.exhausted:
                return pool.window_end - now
            await self._lease(key, pool, units, limit, waited=True)
            if pool.units < units:
                return max(0.0, pool.window_end - time.time()) if pool.exhausted else 1.0
        pool.units -= units
        if pool.units < pool.block(0, limit) / 2 and not pool.exhausted:
            self._refill_later(key, pool, limit)
        return 0.0

    def known_exhausted(self, key: str) -> bool:
        """Whether the last lease found nothing left and that is still trusted (no I/O)."""
        pool = self._pools.get(key)
        now = time.time()
        return bool(
            pool
            and pool.exhausted
            and pool.units <= 0
            and now < pool.window_end
            and now - pool.exhausted_at < self._recheck_s
        )

    def settle(self, key: str, units: float) -> None:
        """Return units a caller reserved and did not use (negative: it used more)."""
        pool = self._pools.get(key)
        if pool is not None:
            pool.units += units

    async def _window(self, key: str, now: float) -> tuple[str, float]:
        """The counter's path for the current window and when the window ends."""
        if self._window_s is None:
            return self._path_of(key), math.inf
        base = self._path_of(key)
        start = self._anchors.get(key)
        if start is None:
            start = self._anchors[key] = await anchor(base)
        n = max(0, math.floor((now - start) / self._window_s))
        return f"{base}_w{n}", start + (n + 1) * self._window_s

    async def _lease(
        self, key: str, pool: Pool, target: float, limit: float, *, waited: bool = False
    ) -> None:
        """Bring the pool to at least `target` units (plus a block), one lease at a time per key.

        `waited`: a request is waiting for this lease, so the pool's blocks are too small for
        its traffic; the block doubles (slow start) once per lease actually made, not once
        per waiting request, so a burst of waiters does not jump to the cap at once."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = time.time()
            pool.expire(now)
            if pool.units >= target or pool.exhausted:  # a concurrent lease got here first
                return
            if waited:
                pool.floor = min(pool.floor * 2, max(1.0, limit / 10))
            path, window_end = await self._window(key, now)
            want = pool.block(target - pool.units, limit)
            grant = await lease(path, want, limit)
            if window_end != pool.window_end:
                pool.units = 0.0  # a new window: what was left of the old one expired with it
                pool.window_end = window_end
            pool.units += grant.units
            pool.exhausted = grant.left <= 0
            pool.exhausted_at = time.time()

    def _refill_later(self, key: str, pool: Pool, limit: float) -> None:
        if pool.refill is not None and not pool.refill.done():
            return

        async def refill() -> None:
            with contextlib.suppress(Exception):  # the request path leases itself if this failed
                await self._lease(key, pool, pool.block(1, limit), limit)
                pool.floor = max(1.0, pool.floor / 2)  # refills keep up: the rate sizes blocks again

        pool.refill = asyncio.get_running_loop().create_task(refill())
