"""First-delta overhead of a code provider over the built-in adapter for the same API.

`python -m bench.sandbox_overhead [--calls N]` (also the last step of `make bench`):
starts aimock and a sandbox process (environment built from nothing), then alternates
one streamed call through the built-in OpenAI adapter and one through the `openai`
code template in the sandbox, timing each from the call to its first text delta. Calls
are paced so a warm child is ready (the warm-path figure a steady trickle of chat
turns sees); the target (issue #11) is a median overhead of at most 10 ms, taken over
the back-to-back pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

from bench.procstat import cpu_ticks, steal_share
from common.providers.base import ChatMessage, ProviderAdapter, ProviderRequest, TextDelta
from tests.support.services import Aimock, running, start_aimock, start_sandbox

TARGET_MS = 10.0
REPLY = "Benchmark reply streamed in small pieces."


async def _first_delta_ms(adapter: ProviderAdapter, request: ProviderRequest) -> float:
    started = time.perf_counter()
    first = None
    async for event in adapter.stream(request):
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter()
    assert first is not None, "no text delta"
    return (first - started) * 1000


async def _measure(mock_url: str, calls: int, pause_s: float) -> dict[str, list[float]]:
    from common.providers.code import CodeAdapter, CodeSpec
    from common.providers.registry import close_all, get_adapter
    from common.sandbox.templates import template

    request = ProviderRequest(model="gpt-4o", messages=(ChatMessage(role="user", content="bench-sandbox"),))
    builtin = get_adapter("openai", api_key="sk-bench-000000", base_url=mock_url + "/v1", timeout=30)
    spec = CodeSpec(template("openai")["python_code"], {"base_url": mock_url + "/v1"})
    code = CodeAdapter(spec, "sk-bench-000000", None, 30)
    out: dict[str, list[float]] = {"builtin": [], "code": []}
    await _first_delta_ms(builtin, request)  # connection pools and imports, not measured
    await asyncio.sleep(pause_s)
    for _ in range(calls):
        out["builtin"].append(await _first_delta_ms(builtin, request))
        out["code"].append(await _first_delta_ms(code, request))
        await asyncio.sleep(pause_s)  # the sandbox starts the next warm child meanwhile
    await builtin.aclose()
    await close_all()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--pause", type=float, default=1.0)
    args = parser.parse_args()
    secret = secrets.token_urlsafe(24)
    mock = start_aimock()
    sandbox = start_sandbox({"SANDBOX_SECRET": secret, "SANDBOX_WARM": "2"})
    with running(sandbox, mock):
        Aimock(mock.url).add(
            {"match": {"userMessage": "bench-sandbox"}, "response": {"content": REPLY}, "chunkSize": 6}
        )
        os.environ.update(SANDBOX_URL=sandbox.url, SANDBOX_SECRET=secret, SANDBOX_AUTH="secret")
        before = cpu_ticks()
        times = asyncio.run(_measure(mock.url, args.calls, args.pause))
        steal = steal_share(before, cpu_ticks())
    med = {k: statistics.median(v) for k, v in times.items()}
    p90 = {k: sorted(v)[int(len(v) * 0.9) - 1] for k, v in times.items()}
    # Each pair ran back to back, so a pair's difference cancels most of what a busy machine
    # adds to both; its median is the figure (the difference of the medians is printed too).
    overhead = statistics.median(c - b for b, c in zip(times["builtin"], times["code"], strict=True))
    print(f"first delta, median (p90) over {args.calls} calls (CPU steal {steal:.0%}):")
    print(f"  built-in openai adapter   {med['builtin']:7.1f} ms ({p90['builtin']:.1f})")
    print(f"  openai code template      {med['code']:7.1f} ms ({p90['code']:.1f})")
    verdict = "within" if overhead <= TARGET_MS else "OVER"
    print(
        f"  overhead, median of pairs {overhead:7.1f} ms  ({verdict} the {TARGET_MS:g} ms target;"
        f" difference of medians {med['code'] - med['builtin']:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
