"""`TURN_DEADLINE_S`: one bound on a whole turn (every model call, tool round and retry).

Without it a turn can outlive the function (8 tool rounds x 60 s x 3 attempts is
far past a 600 s timeout) and the platform cuts the stream with no `error`
event and nothing stored. The deploy sets the deadline a little below the
function timeout; at the deadline the turn stops, its partial reply is stored
as `incomplete` and the caller gets an `error` of type `timeout` (504 for JSON).

`bounded` runs the event source in its own task and hands events over a small
queue, so the deadline cancels exactly that task (closing its upstream stream)
and never the caller's frame: a timeout inside an async generator would
otherwise fire wherever the consumer happens to be suspended.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import TypeVar

from common.errors import AppError
from common.settings import get_settings

T = TypeVar("T")
_END = object()
_closing: set[asyncio.Task[None]] = set()


class TurnTimeout(AppError):
    status, type = 504, "timeout"


def new_deadline() -> float:
    """The `time.monotonic()` at which a turn starting now must end."""
    return time.monotonic() + get_settings().turn_deadline_s


def timeout_error() -> TurnTimeout:
    return TurnTimeout(f"the turn exceeded its time limit ({get_settings().turn_deadline_s:g} s)")


async def bounded(source: AsyncGenerator[T, None], deadline: float) -> AsyncGenerator[T, None]:
    """Yield `source`'s items until it ends or `deadline` passes (then raise `TurnTimeout`)."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=8)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(source):
                async for item in source:
                    await queue.put(item)
        except Exception as exc:  # handed to the consumer, which re-raises it (cancel propagates)
            await queue.put(exc)
            return
        await queue.put(_END)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise timeout_error()
            if not queue.empty():  # a burst (a whole reply in one read): no timer per item
                item = queue.get_nowait()
            else:
                try:
                    async with asyncio.timeout(remaining):
                        item = await queue.get()
                except TimeoutError:
                    raise timeout_error() from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        if not task.done():
            # Not awaited: closing an upstream stream can wait for the server, and the
            # caller must answer now. The task finishes its cleanup in the background.
            task.cancel()
            _closing.add(task)
            task.add_done_callback(_closing.discard)
