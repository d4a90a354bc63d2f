"""Round trips to the Firestore emulator from Python, with the service's own store functions:
the floor under the service's per-turn Firestore work (a read, a query + a write, a batch)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.load import percentiles


async def _timed(n: int, op: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        out.append((time.perf_counter() - started) * 1000)
    return percentiles(out)


async def probe(tenant: str, thread_ids: list[str], app: str, assistant: str) -> dict[str, dict[str, float]]:
    """Sequential (c=1) timings of each Firestore call a turn can make: a first turn reads the
    thread, writes the user message with the thread's `has_messages` and commits the reply; a
    later one queries the history instead of reading the thread."""
    from common.store import threads

    n = len(thread_ids)

    async def get(i: int) -> None:
        await threads.get_thread(tenant, thread_ids[i], fresh=True)

    async def history(i: int) -> None:
        await threads.history(tenant, thread_ids[i], threads.new_message_id(), 100)

    async def add(i: int) -> None:
        await threads.add_message(tenant, thread_ids[i], {"role": "user", "content": "probe"}, first=True)

    async def commit(i: int) -> None:
        usage = ("probe", {"day": "probe", "app_id": app, "assistant_id": assistant, "requests": 1})
        msg = {"role": "assistant", "content": "probe", "status": "complete"}
        await threads.finish_turn(tenant, thread_ids[i], threads.new_message_id(), msg, usage)

    await _timed(min(n, 5), get)  # warm the channel
    return {
        "get_thread": await _timed(n, get),
        "history_query": await _timed(n, history),
        "add_message": await _timed(n, add),
        "finish_turn_batch": await _timed(n, commit),
    }
