"""Admin passwords: argon2id, verified off the event loop, in constant-ish time.

argon2id (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4) makes each guess
cost ~0.1 s of CPU and 64 MiB of memory, so a leaked `users` collection is
slow to crack. The same cost makes verification a denial-of-service lever,
so at most `MAX_CONCURRENT_HASHES` run at once per instance.

Unknown usernames are checked against a dummy hash of the same parameters,
so a wrong username takes as long as a wrong password and login timing does
not reveal which usernames exist.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 hashes any length; a cap keeps a huge body from costing more
MAX_CONCURRENT_HASHES = 4

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters
_slots: asyncio.Semaphore | None = None
_dummy_hash: str | None = None


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
    return _slots


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


async def hash_password(password: str) -> str:
    async with _semaphore():
        return await asyncio.to_thread(_hasher.hash, _bytes(password))


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), _bytes(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; with `stored=None`, burn the same time and say False."""
    async with _semaphore():
        return await asyncio.to_thread(_verify, stored, password[:MAX_LENGTH])


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
