"""The sandbox's warm pool: children primed with the last code serve only that code.

Real child processes under the real `Runner` (no HTTP: the pool is the runner's own
business). A primed child has compiled, never run, one provider's code; handing it
a call of other code would put two providers' code in one process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from common.sandbox.runner import Limits, Runner, code_hash

A = "async def stream(request):\n    yield 'from A'\n"
B = "async def stream(request):\n    yield 'from B'\n"
BROKEN = "async def stream(request):\n    yield 'x'\n\ndef oops(:\n    pass\n"


def _call(code: str) -> dict[str, Any]:
    return {"action": "stream", "code": code, "request": {"model": "m"}, "config": {}, "key": "k"}


async def _text(runner: Runner, code: str) -> list[dict[str, Any]]:
    return [event async for event in runner.run(_call(code))]


async def _settled(runner: Runner) -> None:
    for _ in range(200):
        if not runner._filling and len(runner._ready) == runner.warm:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the warm pool did not refill")


@pytest.fixture()
async def runner() -> Any:
    r = Runner(Limits(wall_s=20), warm=2, concurrency=4)
    r.prewarm()
    await _settled(r)
    yield r
    await r.aclose()


async def test_after_a_call_one_warm_child_is_primed_with_its_code_and_one_is_not(runner: Runner) -> None:
    await _settled(runner)
    assert [c.primed for c in runner._ready] == [None, None]
    events = await _text(runner, A)
    assert events[0] == {"type": "text_delta", "text": "from A"}
    await _settled(runner)
    assert sorted(str(c.primed) for c in runner._ready) == sorted([code_hash(A), "None"])


async def test_a_child_primed_with_other_code_is_never_handed_the_call(runner: Runner) -> None:
    await _text(runner, A)
    await _settled(runner)
    primed = next(c for c in runner._ready if c.primed == code_hash(A))
    other = await runner._take(B)
    try:
        assert other is not primed and other.primed is None
        assert primed in runner._ready
        mine = await runner._take(A)
        assert mine is primed
        await runner._retire(mine)
    finally:
        await runner._retire(other)


async def test_a_child_primed_with_one_code_runs_the_code_of_its_call(runner: Runner) -> None:
    """Defence in depth: the child itself compiles again when the call's code differs."""
    child = await runner._spawn(prime=A)
    try:
        events = [e async for e in runner._events(child, _call(B), time.monotonic())]
    finally:
        await runner._retire(child)
    assert events[0] == {"type": "text_delta", "text": "from B"}


async def test_code_that_does_not_compile_is_reported_at_its_line_when_primed(runner: Runner) -> None:
    await _text(runner, BROKEN)
    await _settled(runner)
    assert any(c.primed == code_hash(BROKEN) for c in runner._ready)
    events = await _text(runner, BROKEN)
    assert events[-1]["type"] == "error"
    assert events[-1]["error_type"] == "code_error" and events[-1]["line"] == 4


async def test_the_pool_keeps_a_primed_child_per_recent_code_and_gives_up_the_oldest() -> None:
    runner = Runner(Limits(wall_s=20), warm=3, concurrency=4)
    runner.prewarm()
    try:
        await _settled(runner)
        for code in (A, B):
            await _text(runner, code)
            await _settled(runner)
        assert sorted(str(c.primed) for c in runner._ready) == sorted([code_hash(A), code_hash(B), "None"])
        runner.warm = 2  # now too small for both: B, the latest, replaces A
        await _text(runner, B)
        await _settled(runner)
        assert sorted(str(c.primed) for c in runner._ready) == sorted([code_hash(B), "None"])
    finally:
        await runner.aclose()
