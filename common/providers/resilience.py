"""Retries and fallbacks around adapter streams (SPEC §7).

Policy, in order:
- a candidate is tried up to `attempts` times, but only for retryable
  failures (connection errors, timeouts, 429, 5xx) and only while nothing has
  reached the caller: once the first event is out, a retry would duplicate
  text, so the error propagates and the chat layer stores the reply as
  incomplete;
- the wait is exponential backoff with full jitter, never shorter than the
  upstream's `Retry-After` (both capped at `max_delay`);
- a candidate that is exhausted, or fails with a non-retryable error
  (400/401/404...), hands over to the next candidate (the fallback models);
- when every candidate failed, the last error is raised.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from common.providers.base import ProviderAdapter, ProviderCallError, ProviderEvent, ProviderRequest

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True)
class Candidate:
    adapter: ProviderAdapter
    request: ProviderRequest
    provider: str  # provider name for records, e.g. "openai"
    model: str  # upstream model id


def backoff_delay(
    error: ProviderCallError,
    retry: int,
    *,
    base_delay: float,
    max_delay: float,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `retry` (0-based)."""
    backoff = jitter() * min(max_delay, base_delay * 2**retry)
    if error.retry_after is not None:
        return max(min(error.retry_after, max_delay), backoff)
    return backoff


async def _close(events: AsyncIterator[ProviderEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


async def resilient_stream(
    candidates: Sequence[Candidate],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Sleep = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> AsyncIterator[tuple[int, ProviderEvent]]:
    """Yield `(candidate_index, event)` from the first candidate that answers."""
    last: ProviderCallError | None = None
    tries = max(1, attempts)
    for index, candidate in enumerate(candidates):
        for attempt in range(tries):
            started = False
            events = candidate.adapter.stream(candidate.request)
            try:
                async for event in events:
                    started = True
                    yield index, event
                return
            except ProviderCallError as error:
                if started:
                    raise  # never retry after the first byte reached the caller
                last = error
            finally:
                await _close(events)
            if not last.retryable or attempt + 1 >= tries:
                break  # on to the next candidate
            delay = backoff_delay(last, attempt, base_delay=base_delay, max_delay=max_delay, jitter=jitter)
            await sleep(delay)
    if last is None:
        raise ProviderCallError("no provider candidates to call")
    raise last
