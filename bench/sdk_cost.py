"""`python -m bench.sdk_cost`: CPU and wall time of one upstream call through each OpenAI
client, against aimock, in one process (in `make bench`).

It pins the trade-off documented in `common/providers/openai_wire.py`: the default client
(`wire`, the protocol over aiohttp) against the official SDK over aiohttp (our `openai.py`,
`PROVIDER_HTTP_CLIENT=aiohttp`) and, as the floor, a bare aiohttp request that only splits
lines and parses JSON. Same request, same streamed reply read to the end, interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from common.providers.base import ChatMessage, ProviderAdapter, ProviderRequest
from tests.support.services import start_aimock

REQUEST = ProviderRequest(
    model="gpt-4o-mini",
    system="You are helpful.",
    messages=(ChatMessage(role="user", content="hello"),),
)


async def _adapter(adapter: ProviderAdapter, n: int) -> tuple[float, float]:
    try:
        async for _ in adapter.stream(REQUEST):  # connection open, lazy imports done
            pass
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            async for _ in adapter.stream(REQUEST):
                pass
        return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000
    finally:
        await adapter.aclose()


async def _bare(base: str, n: int) -> tuple[float, float]:
    body = {
        "model": REQUEST.model,
        "messages": [{"role": "system", "content": REQUEST.system}, {"role": "user", "content": "hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.post(base + "/chat/completions", data=json.dumps(body), headers=headers) as r:
                r.raise_for_status()
                buf = b""
                async for chunk in r.content.iter_any():
                    *lines, buf = (buf + chunk).split(b"\n")
                    for line in lines:
                        if line.startswith(b"data: ") and line != b"data: [DONE]":
                            json.loads(line[6:])

        await one()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            await one()
        return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000


async def _wire(base: str, n: int) -> tuple[float, float]:
    from common.providers.openai_wire import OpenAIWireAdapter

    return await _adapter(OpenAIWireAdapter("sk-bench", base, 30), n)


async def _sdk(base: str, n: int) -> tuple[float, float]:
    from common.providers.openai import OpenAIAdapter

    return await _adapter(OpenAIAdapter("sk-bench", base, 30), n)


CLIENTS = {"wire": _wire, "sdk": _sdk, "bare": _bare}


async def measure(base: str, n: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
    for _ in range(rounds):  # interleaved, so a slow minute of the VM hits each
        for name, fn in CLIENTS.items():
            out[name].append(await fn(base, n))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=300, help="calls per round and client")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    aimock = start_aimock()
    try:
        res = asyncio.run(measure(aimock.url + "/v1", args.n, args.rounds))
    finally:
        aimock.stop()
    best = {name: min(v) for name, v in res.items()}  # the least disturbed round, by CPU
    print(f"\nOne upstream call (streamed reply read to the end), best of {args.rounds} rounds of {args.n}:")
    for name, label in (
        ("wire", "wire client (default)"),
        ("sdk", "openai SDK over aiohttp"),
        ("bare", "bare aiohttp (floor)"),
    ):
        cpu, wall = best[name]
        print(f"  {label:24} {cpu:5.2f} ms CPU  {wall:5.2f} ms wall")
    print(f"  the SDK costs {best['sdk'][0] / best['wire'][0]:.1f}x the wire client's CPU per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
