"""The login throttle's rules on a fake clock, and the hasher's priority order."""

from __future__ import annotations

import asyncio

import pytest

from common.auth import passwords, throttle
from common.auth.passwords import Priority
from common.errors import RateLimited


@pytest.fixture(autouse=True)
def _fresh() -> None:
    throttle.reset()


def _fail(username: str, address: str, now: float) -> None:
    throttle.admit(username, address, now).failed(now)


def test_one_address_backs_off_exponentially_and_is_forgotten_in_time() -> None:
    for _ in range(throttle.PAIR.free):
        _fail("alice", "198.51.100.7", 0.0)
    waits = []
    now = 0.0
    for _ in range(4):
        with pytest.raises(RateLimited) as refused:
            throttle.admit("alice", "198.51.100.7", now)
        waits.append(refused.value.retry_after)
        now += refused.value.retry_after
        _fail("alice", "198.51.100.7", now)
    assert waits == [1, 2, 4, 8]
    # A quiet hour later the pair starts over.
    throttle.admit("alice", "198.51.100.7", now + 3600).succeeded()


def test_an_attacker_cannot_lock_the_victim_out() -> None:
    # A distributed guess: 200 addresses, each failing against alice until refused.
    for n in range(200):
        address = f"203.0.113.{n}"
        try:
            while True:
                _fail("alice", address, 10.0)
        except RateLimited:
            pass
    # Under attack, an address that fails backs off from its first failure...
    _fail("alice", "192.0.2.50", 10.0)
    with pytest.raises(RateLimited):
        throttle.admit("alice", "192.0.2.50", 10.0)
    # ...but the victim's clean address gets its attempt at once, first in the hash queue.
    attempt = throttle.admit("alice", "192.0.2.99", 10.0)
    assert attempt.priority is Priority.CLEAN
    attempt.succeeded()
    # And a victim who mistyped waits seconds, not forever.
    _fail("alice", "192.0.2.98", 10.0)
    with pytest.raises(RateLimited) as refused:
        throttle.admit("alice", "192.0.2.98", 10.0)
    assert refused.value.retry_after <= 2
    throttle.admit("alice", "192.0.2.98", 12.0).succeeded()


def test_one_address_cannot_spray_many_usernames() -> None:
    for n in range(throttle.ADDRESS.free):
        _fail(f"user-{n}", "198.51.100.9", 0.0)
    with pytest.raises(RateLimited):
        throttle.admit("someone-else", "198.51.100.9", 0.0)
    throttle.admit("someone-else", "198.51.100.10", 0.0).succeeded()


def test_success_refunds_and_a_busy_refusal_costs_nothing() -> None:
    for _ in range(50):
        throttle.admit("bob", "198.51.100.11", 0.0).succeeded()
        throttle.admit("bob", "198.51.100.11", 0.0).abandoned()
    assert throttle.admit("bob", "198.51.100.11", 0.0).priority is Priority.CLEAN


def test_client_address_trusts_only_the_proxies_it_is_told_of(monkeypatch) -> None:
    from common.settings import get_settings

    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "0")
    get_settings.cache_clear()
    try:
        assert throttle.client_address("10.0.0.1", ["6.6.6.6"]) == "10.0.0.1"
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
        get_settings.cache_clear()
        # The client wrote "6.6.6.6"; the front end appended the real address.
        assert throttle.client_address("10.0.0.1", ["6.6.6.6, 198.51.100.20"]) == "198.51.100.20"
        assert throttle.client_address("10.0.0.1", ["6.6.6.6", "198.51.100.20"]) == "198.51.100.20"
        assert throttle.client_address("10.0.0.1", []) == "10.0.0.1"
        assert throttle.client_address("10.0.0.1", ["not-an-ip"]) == "10.0.0.1"
        # IPv6 clients are counted per /64; IPv4-mapped addresses as IPv4.
        a = throttle.client_address(None, ["2001:db8:1:2::1"])
        b = throttle.client_address(None, ["2001:db8:1:2:ffff::9"])
        assert a == b == "2001:db8:1:2::/64"
        assert throttle.client_address(None, ["::ffff:198.51.100.3"]) == "198.51.100.3"
    finally:
        get_settings.cache_clear()


async def test_clean_logins_hash_before_suspect_ones_and_the_queue_is_bounded() -> None:
    slots = passwords._Slots(1, max_waiting={Priority.CLEAN: 3, Priority.SUSPECT: 3})
    order: list[str] = []
    gate = asyncio.Event()

    async def job(name: str, priority: Priority) -> None:
        async with slots.slot(priority):
            if name == "first":
                await gate.wait()
            order.append(name)

    first = asyncio.ensure_future(job("first", Priority.SUSPECT))
    await asyncio.sleep(0)
    suspects = [asyncio.ensure_future(job(f"suspect-{n}", Priority.SUSPECT)) for n in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited):
        await job("one too many", Priority.SUSPECT)
    clean = asyncio.ensure_future(job("clean", Priority.CLEAN))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, clean, *suspects)
    assert order == ["first", "clean", "suspect-0", "suspect-1", "suspect-2"]
    assert slots.free == 1
