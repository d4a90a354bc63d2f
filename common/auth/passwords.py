"""Admin passwords: argon2id on a hashing thread of their own, admitted in priority order.

argon2id (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4) makes each guess
cost ~0.25 s of CPU and 64 MiB of memory, so a leaked `users` collection is
slow to crack. The same cost makes verification a denial-of-service lever:

- Hashes run on a dedicated executor of `HASH_WORKERS` threads (one), never
  on the event loop and never on the default executor that `asyncio.to_thread`
  (and so chat) uses: a login flood can keep at most one core busy and
  cannot queue work ahead of a chat turn.
- At most `MAX_WAITING[class]` logins wait for that thread per priority
  class (32 clean, 8 suspect); more are refused at once (429) instead of
  queueing into seconds of delay.
- Callers say how trustworthy the attempt looks (`Priority`): a login from
  an address with no recent failures goes ahead of every waiting attempt
  from addresses that have failed, so a flood delays a legitimate login by
  at most the one hash in progress (`common.auth.throttle` decides).

Unknown usernames are checked against a dummy hash of the same parameters,
so a wrong username takes as long as a wrong password and login timing does
not reveal which usernames exist.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from enum import IntEnum
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.errors import RateLimited

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 hashes any length; a cap keeps a huge body from costing more
HASH_WORKERS = 1

T = TypeVar("T")
_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
_dummy_hash: str | None = None
_executor: ThreadPoolExecutor | None = None


class Priority(IntEnum):
    CLEAN = 0  # an address with no recent failed logins, or an admin setting a password
    SUSPECT = 1  # an address that has failed recently


MAX_WAITING = {Priority.CLEAN: 32, Priority.SUSPECT: 8}


class _Slots:
    """`HASH_WORKERS` slots; waiters are served by (priority, arrival), and each class's queue is capped."""

    def __init__(self, size: int, max_waiting: dict[Priority, int]) -> None:
        self.free = size
        self.max_waiting = max_waiting
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiting = dict.fromkeys(Priority, 0)
        self._seq = itertools.count()

    @asynccontextmanager
    async def slot(self, priority: Priority) -> AsyncIterator[None]:
        if self.free > 0 and not self._heap:
            self.free -= 1
        else:
            if self._waiting[priority] >= self.max_waiting[priority]:
                raise RateLimited("too many logins in progress; retry shortly", retry_after=1)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._heap, (int(priority), next(self._seq), future))
            self._waiting[priority] += 1
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # we were handed the slot as we were cancelled
                raise
            finally:
                self._waiting[priority] -= 1
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._heap:
            _, _, future = heapq.heappop(self._heap)
            if not future.done() and not future.get_loop().is_closed():
                future.set_result(None)  # the slot passes straight to the next waiter
                return
        self.free += 1


_slots: _Slots | None = None


def _get_slots() -> _Slots:
    global _slots
    if _slots is None:
        _slots = _Slots(HASH_WORKERS, MAX_WAITING)
    return _slots


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")
    return _executor


async def _run(priority: Priority, fn: Callable[..., T], *args: object) -> T:
    async with _get_slots().slot(priority):
        running = asyncio.get_running_loop().run_in_executor(_get_executor(), fn, *args)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            await asyncio.wait([running])  # the slot stays taken until the thread is done
            raise


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(24))
    return _dummy_hash


def check_policy(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


def _bytes(password: str) -> bytes:
    # "surrogatepass": any str from JSON hashes (and verifies) the same way, none raises.
    return password.encode("utf-8", "surrogatepass")


async def hash_password(password: str, priority: Priority = Priority.CLEAN) -> str:
    return await _run(priority, _hasher.hash, _bytes(password))


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), _bytes(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str, priority: Priority = Priority.CLEAN) -> bool:
    """True when `password` matches `stored`; with `stored=None`, burn the same time and say False."""
    return await _run(priority, _verify, stored, password[:MAX_LENGTH])


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
