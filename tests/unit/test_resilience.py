"""Retry and fallback policy, against a scripted adapter (no network)."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence

import pytest

from common.providers.base import (
    ChatMessage,
    FinishEvent,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    parse_retry_after,
)
from common.providers.resilience import Candidate, backoff_delay, resilient_stream

REQUEST = ProviderRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))
OK: tuple[ProviderEvent, ...] = (TextDelta("hello"), FinishEvent("stop"))


class ScriptedAdapter:
    """Plays queued outcomes in order and records every request it was given."""

    def __init__(self) -> None:
        self.script: deque[tuple[Sequence[ProviderEvent], ProviderCallError | None]] = deque()
        self.history: list[ProviderRequest] = []
        self.closed = False

    def enqueue(self, *events: ProviderEvent, error: ProviderCallError | None = None) -> ScriptedAdapter:
        self.script.append((events, error))
        return self

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.history.append(request)
        events, error = self.script.popleft()
        for event in events:
            yield event
        if error is not None:
            raise error

    async def aclose(self) -> None:
        self.closed = True


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def candidate(adapter: ScriptedAdapter, model: str = "m") -> Candidate:
    return Candidate(adapter=adapter, request=REQUEST, provider="fake", model=model)


async def run(
    candidates: list[Candidate], sleeps: Sleeps, attempts: int = 3
) -> list[tuple[int, ProviderEvent]]:
    out = []
    async for item in resilient_stream(
        candidates, attempts=attempts, base_delay=0.25, max_delay=8.0, sleep=sleeps, jitter=lambda: 1.0
    ):
        out.append(item)
    return out


async def test_429_is_retried_after_retry_after() -> None:
    adapter = (
        ScriptedAdapter().enqueue(error=ProviderCallError("slow", status=429, retry_after=2.0)).enqueue(*OK)
    )
    sleeps = Sleeps()

    out = await run([candidate(adapter)], sleeps)

    assert out == [(0, TextDelta("hello")), (0, FinishEvent("stop"))]
    assert len(adapter.history) == 2
    assert sleeps.delays == [2.0]


async def test_retry_after_is_capped_at_max_delay() -> None:
    adapter = (
        ScriptedAdapter().enqueue(error=ProviderCallError("slow", status=429, retry_after=600)).enqueue(*OK)
    )
    sleeps = Sleeps()

    await run([candidate(adapter)], sleeps)

    assert sleeps.delays == [8.0]


async def test_500_is_retried_up_to_attempts_with_exponential_backoff() -> None:
    adapter = ScriptedAdapter()
    for _ in range(3):
        adapter.enqueue(error=ProviderCallError("boom", status=500))
    sleeps = Sleeps()

    with pytest.raises(ProviderCallError) as info:
        await run([candidate(adapter)], sleeps, attempts=3)

    assert info.value.status == 500
    assert len(adapter.history) == 3
    assert sleeps.delays == [0.25, 0.5]


async def test_400_is_not_retried() -> None:
    adapter = ScriptedAdapter().enqueue(error=ProviderCallError("bad", status=400))
    sleeps = Sleeps()

    with pytest.raises(ProviderCallError) as info:
        await run([candidate(adapter)], sleeps)

    assert info.value.status == 400
    assert len(adapter.history) == 1
    assert sleeps.delays == []


async def test_fallback_candidate_is_used_after_primary_exhausts() -> None:
    primary = ScriptedAdapter()
    for _ in range(3):
        primary.enqueue(error=ProviderCallError("reset", connection=True))
    fallback = ScriptedAdapter().enqueue(*OK)
    sleeps = Sleeps()

    out = await run([candidate(primary, "a"), candidate(fallback, "b")], sleeps)

    assert [index for index, _ in out] == [1, 1]
    assert len(primary.history) == 3
    assert len(fallback.history) == 1
    assert len(sleeps.delays) == 2  # between primary attempts only, none before the fallback


async def test_non_retryable_error_falls_back_immediately() -> None:
    primary = ScriptedAdapter().enqueue(error=ProviderCallError("no such model", status=404))
    fallback = ScriptedAdapter().enqueue(*OK)
    sleeps = Sleeps()

    out = await run([candidate(primary), candidate(fallback)], sleeps)

    assert out[-1] == (1, FinishEvent("stop"))
    assert len(primary.history) == 1
    assert sleeps.delays == []


async def test_no_retry_after_first_event() -> None:
    primary = ScriptedAdapter().enqueue(TextDelta("par"), error=ProviderCallError("reset", connection=True))
    fallback = ScriptedAdapter().enqueue(*OK)
    sleeps = Sleeps()
    seen: list[tuple[int, ProviderEvent]] = []

    with pytest.raises(ProviderCallError) as info:
        async for item in resilient_stream(
            [candidate(primary), candidate(fallback)],
            attempts=3,
            base_delay=0.25,
            max_delay=8.0,
            sleep=sleeps,
        ):
            seen.append(item)

    assert info.value.connection
    assert seen == [(0, TextDelta("par"))]
    assert len(primary.history) == 1
    assert fallback.history == []
    assert sleeps.delays == []


async def test_all_candidates_failing_raises_the_last_error() -> None:
    primary = ScriptedAdapter().enqueue(error=ProviderCallError("bad key", status=401))
    fallback = ScriptedAdapter()
    for _ in range(2):
        fallback.enqueue(error=ProviderCallError("down", status=503))
    sleeps = Sleeps()

    with pytest.raises(ProviderCallError) as info:
        await run([candidate(primary), candidate(fallback)], sleeps, attempts=2)

    assert info.value.status == 503
    assert len(fallback.history) == 2


async def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ProviderCallError):
        await run([], Sleeps())


def test_backoff_uses_full_jitter_and_caps() -> None:
    err = ProviderCallError("boom", status=500)

    assert backoff_delay(err, 0, base_delay=0.25, max_delay=8.0, jitter=lambda: 0.5) == 0.125
    assert backoff_delay(err, 10, base_delay=0.25, max_delay=8.0, jitter=lambda: 1.0) == 8.0
    assert backoff_delay(err, 3, base_delay=0.25, max_delay=8.0, jitter=lambda: 0.0) == 0.0


def test_retry_after_wins_over_a_shorter_backoff() -> None:
    err = ProviderCallError("slow", status=429, retry_after=3.0)

    assert backoff_delay(err, 0, base_delay=0.25, max_delay=8.0, jitter=lambda: 1.0) == 3.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after({}) is None


def test_retryable_classification() -> None:
    assert ProviderCallError("x", status=429).retryable
    assert ProviderCallError("x", status=503).retryable
    assert ProviderCallError("x", connection=True).retryable
    assert ProviderCallError("x", timeout=True).retryable
    assert not ProviderCallError("x", status=400).retryable
    assert not ProviderCallError("x", status=401).retryable
    assert not ProviderCallError("x").retryable
