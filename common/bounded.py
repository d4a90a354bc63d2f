"""Work on untrusted input (YAML bundles, tenant JSON Schemas), off the event loop,
with a time limit.

A parse or a validation that a tenant controls must neither block the loop
(every other tenant's requests wait on it) nor take a shared worker pool
hostage. So such work runs here:

- on its own small thread pool (`WORKERS` threads), never the loop's default
  executor that GCS downloads, secret reads and sync tools share;
- with a deadline: the caller stops waiting at `timeout_s`, and the work
  itself stops soon after, because the parsers in this project call
  `checkpoint()` as they go (per YAML node, per JSON Schema keyword), so a
  thread that nobody waits for does not keep burning CPU;
- politely: every `YIELD_EVERY` checkpoints the worker sleeps `YIELD_S`,
  which hands the GIL to the event loop thread at once (a voluntary release
  with no sleep is usually won back by the same thread), instead of the loop
  waiting out the interpreter's 5 ms switch interval many times per request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
WORKERS = 2
YIELD_EVERY = 64
YIELD_S = 0.0002
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="bounded")
_local = threading.local()


class TimeUp(Exception):
    """The work passed its deadline (raised inside the worker by `checkpoint`)."""


def checkpoint() -> None:
    """In a bounded job: raise TimeUp past its deadline, and now and then yield the GIL.
    Elsewhere (a CLI parsing a bundle): a no-op."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return
    _local.count += 1
    if _local.count % YIELD_EVERY == 0:
        if time.monotonic() > deadline:
            raise TimeUp
        time.sleep(YIELD_S)


def run_sync(fn: Callable[[], T], deadline: float) -> T:
    """Run `fn` on this thread under `deadline` (time.monotonic); what the pool runs."""
    _local.deadline, _local.count = deadline, 0
    try:
        if time.monotonic() > deadline:  # queued past its deadline: do not start
            raise TimeUp
        return fn()
    finally:
        _local.deadline = None


async def run(fn: Callable[[], T], timeout_s: float) -> T:
    """`fn()` on the bounded pool; TimeUp when it has not finished within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    future = asyncio.get_running_loop().run_in_executor(_pool, run_sync, fn, deadline)
    try:
        return await asyncio.wait_for(future, timeout_s + 0.05)
    except TimeoutError:
        raise TimeUp from None
