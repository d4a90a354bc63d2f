"""Usage counters aggregated in memory and flushed in batches, off the response path.

A request adds its tokens and cost to an in-memory sum keyed by (tenant, day,
app, assistant) and returns at once; one background task per instance writes
every pending sum as Firestore increments in one batched commit, at most every
`USAGE_FLUSH_S` seconds (default 2), sooner when `MAX_PENDING` keys pile up,
and once more when the instance shuts down: on Cloud Run's SIGTERM uvicorn's
graceful shutdown waits for a final flush (`_hook_server_shutdown`), bounded
by `FINAL_FLUSH_S`; a loop torn down otherwise cancels the flush task, whose
cancellation handler tries the same.

Trade-off (documented in the README): a crash (SIGKILL, OOM) loses at most the
usage of the last flush interval on that instance, plus a flush in flight;
usage is for reporting and budgets, which reserve ahead (`common.chat.budget`),
so that loss never lets a tenant overspend. A failed flush puts its sums back
and is retried with backoff; it is logged, never raised into a request.

`POST /chat` does not use this: its usage rides in the reply's own commit
(`common.store.threads.finish_turn`), which the durability promise awaits
anyway, so it costs no extra round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from common.logging import get_logger
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection
from common.store.usage import as_increments, usage_doc

MAX_PENDING = 400  # keys; a Firestore commit takes at most 500 writes
FINAL_FLUSH_S = 8.0  # within Cloud Run's 10 s between SIGTERM and SIGKILL
_MAX_BACKOFF_S = 30.0

_Key = tuple[str, str, str, str]  # tenant, day, app, assistant
log = get_logger("usage")


def flush_interval_s() -> float:
    try:
        return max(0.0, float(os.environ.get("USAGE_FLUSH_S", "2")))
    except ValueError:
        return 2.0


class UsageBuffer:
    def __init__(self) -> None:
        self._pending: dict[_Key, list[float]] = {}  # requests, input, output, cost
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.flushes = 0  # commits made (tests and the bench read it)

    def add(
        self,
        tenant: str,
        *,
        app_id: str,
        assistant_id: str,
        input_tokens: int,
        output_tokens: int,
        cost: float,
    ) -> None:
        """Count one request; never waits and never raises."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        sums = self._pending.setdefault((tenant, day, app_id, assistant_id), [0, 0, 0, 0.0])
        sums[0] += 1
        sums[1] += input_tokens
        sums[2] += output_tokens
        sums[3] += cost
        self._ensure_task()
        if len(self._pending) >= MAX_PENDING and self._wake is not None:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _ensure_task(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        if self._loop is not loop:
            _hook_server_shutdown(self)
        self._loop, self._wake = loop, asyncio.Event()
        self._task = loop.create_task(self._run(), name="usage-flush")

    async def _run(self) -> None:
        assert self._wake is not None
        failures = 0
        try:
            while self._pending:
                delay = flush_interval_s() if failures == 0 else min(_MAX_BACKOFF_S, 2.0**failures)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                failures = 0 if await self.flush() else failures + 1
        except asyncio.CancelledError:
            # Shutdown: write what is pending before the instance goes away.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), FINAL_FLUSH_S)
            raise

    async def flush(self) -> bool:
        """Write every pending sum in one commit; on failure put them back. True on success."""
        if not self._pending:
            return True
        batch_items, self._pending = self._pending, {}
        try:
            batch = get_db().batch()
            for (tenant, day, app_id, assistant_id), (requests, inp, outp, cost) in batch_items.items():
                doc_id, counters = usage_doc(
                    app_id, assistant_id, int(inp), int(outp), float(cost), requests=int(requests), day=day
                )
                ref = tenant_collection(tenant, "usage").document(doc_id)
                batch.set(ref, as_increments(counters), merge=True)
            await batch.commit(timeout=RPC_TIMEOUT_S)
        except Exception as exc:  # put the sums back; the next attempt writes them
            for key, sums in batch_items.items():
                into = self._pending.setdefault(key, [0, 0, 0, 0.0])
                for i, value in enumerate(sums):
                    into[i] += value
            log.error(
                "usage flush failed; will retry",
                extra={"fields": {"error": type(exc).__name__, "keys": len(batch_items)}},
            )
            return False
        self.flushes += 1
        return True


_buffer = UsageBuffer()


def get_buffer() -> UsageBuffer:
    return _buffer


def _hook_server_shutdown(buffer: UsageBuffer) -> None:
    """Make uvicorn's graceful shutdown wait for a final flush.

    uvicorn handles SIGTERM with a bound `Server.handle_exit` and, before it
    exits, waits for every task in `server_state.tasks`; wrapping that handler
    adds our flush to the set. Elsewhere (tests, scripts) nothing is changed.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    tasks = getattr(getattr(getattr(previous, "__self__", None), "server_state", None), "tasks", None)
    if not isinstance(tasks, set) or not callable(previous):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        flush = loop.create_task(asyncio.wait_for(buffer.flush(), FINAL_FLUSH_S), name="usage-final-flush")
        tasks.add(flush)
        flush.add_done_callback(tasks.discard)
        previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
