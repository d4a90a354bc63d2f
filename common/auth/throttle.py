"""Login throttling, decided before any password is hashed.

The threat: a flood of wrong passwords (100 at once raised a legitimate
login from 0.22 s to 16.7 s and slowed chat, because every guess cost an
argon2 hash). The opposite threat: a throttle an attacker can aim at a
victim, locking the victim's account for as long as the attack lasts.

Three counters, all leaky (a failure is forgotten after `leak_s` seconds,
one at a time) and all in this instance's memory (no I/O before the hash;
the effective limits across a deployment scale with its instance count):

- per client address (all usernames): `ADDRESS.free` attempts, then
  exponential backoff (1 s, 2 s, 4 s, ... capped). Stops one address from
  guessing many usernames. IPv6 addresses count per /64, the block one
  client usually holds.
- per (username, address): `PAIR.free` attempts, then exponential backoff.
  Stops one address from guessing one password. It never touches the
  victim's own (username, address) pairs, so an attacker elsewhere cannot
  lock the victim out.
- per username (all addresses): never blocks anyone by itself. Once a
  username has more than `USERNAME_ALERT` recent failures (a distributed
  guess), its pairs lose their free attempts: every address that has failed
  against it backs off from its first failure, while an address with no
  failures for it still gets its attempt at once. The correct password from
  a clean address always gets through; a victim who mistypes during an
  attack waits seconds, not forever.

An attempt is counted as a failure when it is admitted (so 100 concurrent
guesses cannot all slip in before the first one fails) and refunded when it
succeeds, or when it is refused without hashing (the hasher is busy). The
backoff an attempt earns runs from its admission and again from its failure,
so a slow hash does not shorten the wait.
Blocked attempts answer 429 with `Retry-After` and are not counted, so
hammering a block does not extend it. Whether the username exists makes no
difference to any counter, so throttling does not reveal usernames.

Admitted attempts also get a hashing priority (`passwords.Priority`): clean
(no recent failures from this address) or suspect, so a flood from failing
addresses waits behind a legitimate login rather than ahead of it.

The client address is the connection's peer, or, behind
`TRUSTED_PROXY_HOPS` proxies that append to `X-Forwarded-For` (Cloud
Run / Cloud Functions: one, the Google front end), the entry that many
places from the right: the left part of that header is the client's to
write and is never trusted.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from common.auth.passwords import Priority
from common.errors import RateLimited
from common.settings import get_settings

K = TypeVar("K", bound=Hashable)
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Rule:
    free: int  # attempts before backoff starts
    leak_s: float  # one counted failure is forgotten per this many seconds
    base_s: float = 1.0  # first backoff
    cap_s: float = 300.0  # longest backoff


# One address may spray 30 usernames at once and 30 a minute after that (a shared NAT
# has room); one (username, address) pair gets 3 guesses, then 1, 2, 4 ... s apart.
ADDRESS = Rule(free=30, leak_s=2.0, cap_s=300.0)
PAIR = Rule(free=3, leak_s=60.0, cap_s=900.0)
USERNAME_ALERT = 20
USERNAME_LEAK_S = 30.0


@dataclass
class _Counter:
    level: float = 0.0
    updated: float = 0.0
    blocked_until: float = 0.0

    def decay(self, now: float, leak_s: float) -> None:
        self.level = max(0.0, self.level - (now - self.updated) / leak_s)
        self.updated = now

    def add(self, now: float, rule: Rule, free: int) -> float:
        """Count one attempt; the backoff it earns (0 for none) starts now and again when it fails."""
        self.level += 1
        over = round(self.level) - free + 1
        if over <= 0:
            return 0.0
        delay = min(rule.cap_s, rule.base_s * 2 ** min(over - 1, 32))
        self.blocked_until = max(self.blocked_until, now + delay)
        return delay

    def refund(self) -> None:
        self.level = max(0.0, self.level - 1)


@dataclass
class _Table(Generic[K]):
    entries: OrderedDict[K, _Counter] = field(default_factory=OrderedDict)

    def get(self, key: K, now: float, leak_s: float) -> _Counter:
        counter = self.entries.get(key)
        if counter is None:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.popitem(last=False)
            counter = self.entries[key] = _Counter(updated=now)
        self.entries.move_to_end(key)
        counter.decay(now, leak_s)
        return counter


_addresses: _Table[str] = _Table()
_pairs: _Table[tuple[str, str]] = _Table()
_usernames: _Table[str] = _Table()


@dataclass
class Attempt:
    """One admitted login attempt: counted as failed until `succeeded()` or `abandoned()`."""

    priority: Priority
    _counters: tuple[_Counter, _Counter, _Counter]
    _delays: tuple[float, float] = (0.0, 0.0)
    _done: bool = False

    def failed(self, now: float | None = None) -> None:
        """The guess was wrong: its backoff runs from now (a slow hash does not eat into it)."""
        if self._done:
            return
        self._done = True
        now = time.monotonic() if now is None else now
        for counter, delay in zip(self._counters, self._delays, strict=False):
            if delay:
                counter.blocked_until = max(counter.blocked_until, now + delay)

    def succeeded(self) -> None:
        if self._done:
            return
        self._done = True
        address, pair, username = self._counters
        address.refund()
        username.refund()
        pair.level, pair.blocked_until = 0.0, 0.0

    def abandoned(self) -> None:
        """Refused before hashing (busy): the guess was never tried, so it costs nothing."""
        if self._done:
            return
        self._done = True
        for counter in self._counters:
            counter.refund()


def admit(username: str, address: str, now: float | None = None) -> Attempt:
    """Count an attempt, or raise 429 (`RateLimited` with the seconds to wait) without counting it."""
    now = time.monotonic() if now is None else now
    by_address = _addresses.get(address, now, ADDRESS.leak_s)
    pair = _pairs.get((username, address), now, PAIR.leak_s)
    by_username = _usernames.get(username, now, USERNAME_LEAK_S)
    wait = max(by_address.blocked_until, pair.blocked_until) - now
    if wait > 0:
        raise RateLimited(
            f"too many failed logins; retry in {math.ceil(wait)} s", retry_after=math.ceil(wait)
        )
    clean = round(by_address.level) == 0 and round(pair.level) == 0
    pair_free = PAIR.free if by_username.level < USERNAME_ALERT else 0
    delays = (by_address.add(now, ADDRESS, ADDRESS.free), pair.add(now, PAIR, pair_free))
    by_username.level += 1
    priority = Priority.CLEAN if clean else Priority.SUSPECT
    return Attempt(priority, (by_address, pair, by_username), delays)


def reset() -> None:
    """Forget every counter (tests)."""
    for table in (_addresses, _pairs, _usernames):
        table.entries.clear()


def _address_key(raw: str | None) -> str | None:
    try:
        ip = ipaddress.ip_address((raw or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(peer: str | None, forwarded_for: list[str]) -> str:
    """The key the throttle counts this client under (see the module docstring)."""
    hops = get_settings().trusted_proxy_hops
    if hops > 0:
        entries = [e.strip() for line in forwarded_for for e in line.split(",") if e.strip()]
        if len(entries) >= hops:
            key = _address_key(entries[-hops])
            if key is not None:
                return key
    return _address_key(peer) or "unknown"
