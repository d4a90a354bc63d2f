"""`common.chat.deadline.bounded`: items in order, the deadline checked on every item (also in a
burst that needs no wait), the source's error re-raised, and the source closed early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import pytest

from common.chat.deadline import TurnTimeout, bounded


async def _burst(n: int, closed: list[bool]) -> AsyncGenerator[int, None]:
    try:
        for i in range(n):
            yield i  # no await in between: the consumer finds each item already queued
    finally:
        closed.append(True)


async def test_a_burst_arrives_whole_and_in_order() -> None:
    closed: list[bool] = []
    got = [i async for i in bounded(_burst(50, closed), time.monotonic() + 5)]
    assert got == list(range(50))
    assert closed == [True]


async def test_the_deadline_stops_a_burst_between_items() -> None:
    closed: list[bool] = []
    got = []
    with pytest.raises(TurnTimeout):
        async for i in bounded(_burst(50, closed), time.monotonic() + 0.05):
            got.append(i)
            time.sleep(0.02)  # a slow consumer: the deadline passes while items are queued
    assert 0 < len(got) < 50
    await asyncio.sleep(0.01)  # the source is closed in the background, never awaited
    assert closed == [True]


async def test_a_silent_source_times_out() -> None:
    async def silent() -> AsyncGenerator[int, None]:
        await asyncio.sleep(10)
        yield 1

    started = time.monotonic()
    with pytest.raises(TurnTimeout):
        async for _ in bounded(silent(), time.monotonic() + 0.05):
            pass
    assert time.monotonic() - started < 1


async def test_the_sources_error_is_raised_to_the_consumer() -> None:
    async def failing() -> AsyncGenerator[int, None]:
        yield 1
        raise ValueError("upstream broke")

    got = []
    with pytest.raises(ValueError, match="upstream broke"):
        async for i in bounded(failing(), time.monotonic() + 5):
            got.append(i)
    assert got == [1]
