"""The tool loop against a scripted provider: rounds, ordering, concurrency, the cap, timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    UsageEvent,
)
from common.providers.resilience import Candidate
from common.tools import ToolContext, tool
from common.tools.loop import LIMIT_NOTE, CallRequested, Delta, Limits, ResultReady, Step, ToolLoopLimit, run
from common.tools.toolset import Toolset

CTX = ToolContext("acme", "shop", "support", "th_1", "req-1")


class Scripted:
    """A provider that answers each call with the next scripted list of events."""

    def __init__(self, *replies: list[ProviderEvent]) -> None:
        self.replies = list(replies)
        self.requests: list[ProviderRequest] = []

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        for event in self.replies.pop(0):
            yield event

    async def aclose(self) -> None:
        return None


def calls(*pairs: tuple[str, str, dict]) -> list[ProviderEvent]:
    return [
        *(ToolCallEvent(ToolCall(i, n, json.dumps(a))) for i, n, a in pairs),
        UsageEvent(10, 2),
        FinishEvent("tool_calls"),
    ]


def text(t: str) -> list[ProviderEvent]:
    return [TextDelta(t), UsageEvent(20, 5), FinishEvent("stop")]


@tool
async def wait(label: str, seconds: float) -> dict:
    """Sleeps, then reports when it ran."""
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return {"label": label, "start": start, "end": time.monotonic()}


@tool
def store_hours() -> str:
    """Opening hours."""
    return "9-17"


TOOLS = Toolset({"wait": wait.__tool__, "store_hours": store_hours.__tool__}, timeout_s=5)  # type: ignore[attr-defined]
BASE = ProviderRequest(
    model="m",
    messages=(ChatMessage(role="user", content="hi"),),
    system="Be brief.",
    tools=TOOLS.specs,
)


async def drive(adapter: Scripted, toolset: Toolset = TOOLS, max_rounds: int = 8) -> list:
    limits = Limits(max_rounds=max_rounds, attempts=1, base_delay=0, max_delay=0)
    candidate = Candidate(adapter, BASE, "fake", "m")
    return [event async for event in run([candidate], toolset, CTX, limits)]


async def test_two_rounds_then_an_answer():
    adapter = Scripted(
        calls(("a", "store_hours", {})),
        calls(("b", "wait", {"label": "x", "seconds": 0})),
        text("Open 9-17."),
    )

    events = await drive(adapter)

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["CallRequested", "ResultReady", "Step"] * 2 + ["Delta", "Step"]
    first, second, final = (e for e in events if isinstance(e, Step))
    assert (first.final, second.final, final.final) == (False, False, True)
    assert first.outcomes[0].result == "9-17"
    assert (final.text, final.input_tokens, final.output_tokens) == ("Open 9-17.", 20, 5)
    third = adapter.requests[2].messages
    assert [m.role for m in third] == ["user", "assistant", "tool", "assistant", "tool"]
    assert (
        third[1].tool_calls[0].id == "a" and third[2].tool_call_id == "a" and third[2].name == "store_hours"
    )
    assert all(r.tools == TOOLS.specs for r in adapter.requests)


async def test_parallel_calls_run_concurrently_and_return_in_call_order():
    adapter = Scripted(
        calls(
            ("slow", "wait", {"label": "slow", "seconds": 0.3}),
            ("fast", "wait", {"label": "fast", "seconds": 0}),
        ),
        text("done"),
    )

    started = time.monotonic()
    events = await drive(adapter)
    elapsed = time.monotonic() - started

    ready = [e.outcome.call.id for e in events if isinstance(e, ResultReady)]
    assert ready == ["fast", "slow"]  # streamed as they finish
    sent = [m.tool_call_id for m in adapter.requests[1].messages if m.role == "tool"]
    assert sent == ["slow", "fast"]  # but sent back in the order of the calls
    results = [json.loads(m.content) for m in adapter.requests[1].messages if m.role == "tool"]
    assert results[1]["start"] < results[0]["end"]  # overlapping: they ran together
    assert elapsed < 0.55


async def test_the_round_cap_asks_for_an_answer_without_tools():
    adapter = Scripted(
        calls(("1", "store_hours", {})),
        calls(("2", "store_hours", {})),
        [TextDelta("With what I have: 9-17."), FinishEvent("stop")],
    )

    events = await drive(adapter, max_rounds=2)

    final = events[-1]
    assert isinstance(final, Step) and final.final and final.text == "With what I have: 9-17."
    last = adapter.requests[-1]
    assert last.tools == () and last.system == "Be brief.\n\n" + LIMIT_NOTE.format(n=2)
    assert [r.tools == TOOLS.specs for r in adapter.requests] == [True, True, False]


async def test_a_model_that_insists_on_tools_after_the_cap_fails_the_turn():
    adapter = Scripted(calls(("1", "store_hours", {})), calls(("2", "store_hours", {})))

    with pytest.raises(ToolLoopLimit, match="after 1 rounds"):
        await drive(adapter, max_rounds=1)


async def test_calls_nobody_offered_are_dropped():
    adapter = Scripted([TextDelta("Sure."), *calls(("x", "store_hours", {}))])

    events = await drive(adapter, toolset=Toolset())

    assert [type(e) for e in events] == [Delta, Step]
    assert events[-1].calls == () and events[-1].text == "Sure."


async def test_unknown_tools_and_timeouts_are_results_not_failures():
    adapter = Scripted(
        calls(("u", "no_such_tool", {}), ("t", "wait", {"label": "t", "seconds": 5})),
        text("sorry"),
    )
    toolset = Toolset(dict(TOOLS.tools), timeout_s=0.2)

    events = await drive(adapter, toolset=toolset)

    outcomes = next(e for e in events if isinstance(e, Step)).outcomes
    assert [o.is_error for o in outcomes] == [True, True]
    assert "no tool named 'no_such_tool'" in outcomes[0].result
    assert outcomes[1].result == "Error: wait did not finish within 0.2 s."


async def test_closing_the_loop_cancels_running_tools():
    adapter = Scripted(calls(("t", "wait", {"label": "t", "seconds": 30})), text("never"))
    limits = Limits(max_rounds=8, attempts=1, base_delay=0, max_delay=0)
    events = run([Candidate(adapter, BASE, "fake", "m")], TOOLS, CTX, limits)

    assert isinstance(await anext(events), CallRequested)
    pending = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)
    running = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "Toolset.run"]
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    await events.aclose()
    await asyncio.sleep(0)

    assert len(running) == 1 and running[0].cancelled()


def test_tool_specs_are_what_the_provider_gets():
    assert ToolSpec("store_hours", "Opening hours.", store_hours.__tool__.signature.parameters) in TOOLS.specs  # type: ignore[attr-defined]
