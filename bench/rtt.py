"""Firestore round trips on each endpoint's critical path, with production's network shape.

`FIRESTORE_RTT_MS=10 make bench` (or `python -m bench.rtt --rtt-ms 10`) runs each endpoint
twice at c=1: with the functions talking to the emulator directly, and through
`bench.delayproxy`, which adds RTT/2 each way. A round trip the response waits for shows
up as one RTT of extra latency, so for each endpoint

    round trips before the first byte = Δ(time to first delta) / RTT
    round trips after the last upstream chunk = Δ(total - first delta) / RTT  (streamed)
    round trips in all = Δ(total) / RTT  (non-streamed)

rounded to one decimal: ~1.0 is one awaited round trip, ~0 none (writes in the background
or overlapped with the upstream's own latency). Overheads are over aimock called directly.

#14's `/chat` bar, first delta <= RTT + 3 ms, takes RTT as one Firestore round trip as the
service sees it: the delay plus the emulator's own time per call, which on this shared VM
ranges from 1 to 8 ms within a day. So each side also times thread reads from this process,
through the same host and with the same gRPC client code (`firestore_read_p50_ms`), and the
report gives the first-delta overhead beyond that one round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load
from bench.stack import (
    Infra,
    Scenario,
    add_fixtures,
    capture_upstream,
    direct_requests,
    fresh_tenant,
    service_requests,
    start_infra,
)
from tests.support.services import Service, free_port, spawn, wait_tcp


@dataclass(frozen=True)
class Endpoint:
    name: str
    streamed: bool
    completions: bool  # the stateless OpenAI-compatible endpoint, else `POST /chat`


ENDPOINTS = (
    Endpoint("/chat", False, False),
    Endpoint("/chat (SSE)", True, False),
    Endpoint("/chat/v1/chat/completions", False, True),
    Endpoint("/chat/v1/chat/completions (stream)", True, True),
)


def start_delay_proxy(target: Service, rtt_ms: float) -> Service:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.delayproxy",
        "--port",
        str(port),
        "--target",
        target.host,
        "--delay-ms",
        str(rtt_ms / 2),
    ]
    svc = spawn("delayproxy", cmd, port)
    wait_tcp(svc, timeout=20)
    return svc


def completion_requests(
    fn: Service, scenario: Scenario, text: str, n: int, stream: bool
) -> list[load.Request]:
    out = []
    for i in range(n):
        body: dict[str, Any] = {
            "model": "support-openai",
            "messages": [{"role": "user", "content": f"{text} q{i}"}],
            "stream": stream,
        }
        headers = {**scenario.auth, "Content-Type": "application/json", "X-Request-Id": f"bench-rtt-{i}"}
        out.append(load.Request(fn.url + "/chat/v1/chat/completions", json.dumps(body).encode(), headers))
    return out


async def measure(
    infra: Infra, scenario: Scenario, firestore_host: str, label: str, n: int
) -> dict[str, Any]:
    """p50 latency and first delta of each endpoint (and of aimock directly) at c=1."""
    infra.new_project(label)
    fn = infra.functions("dev", FIRESTORE_EMULATOR_HOST=firestore_host)
    try:
        warm = 5
        ids = await fresh_tenant(infra, scenario, 2 * (n + warm) + 1, fn)
        first = await load.run(
            "first", service_requests(fn, scenario, ids[:1], scenario.plain, False, "f"), 1
        )
        if first.errors:
            raise RuntimeError(f"first /chat failed: {first.summary()}\n{fn.log()}")
        capture_upstream(infra, scenario, scenario.plain)
        out: dict[str, Any] = {}
        threads = iter(ids[1:])
        for ep in ENDPOINTS:
            text = scenario.stream if ep.streamed else scenario.plain
            if ep.completions:
                warmup = completion_requests(fn, scenario, text + "w", warm, ep.streamed)
                reqs = completion_requests(fn, scenario, text, n, ep.streamed)
            else:
                use = [next(threads) for _ in range(n + warm)]
                warmup = service_requests(fn, scenario, use[:warm], text + "w", ep.streamed, "rw")
                reqs = service_requests(fn, scenario, use[warm:], text, ep.streamed, "r")
            mode: load.Mode = (
                "full" if not ep.streamed else ("sse_direct" if ep.completions else "sse_service")
            )
            run = await load.run(f"{label} {ep.name}", reqs, 1, mode, warmup=warmup)
            if run.errors:
                raise RuntimeError(f"{ep.name}: {run.summary()}")
            out[ep.name] = {"p50_ms": run.latency_ms()["p50"], "first_p50_ms": run.first_ms().get("p50")}
        for streamed, text in ((False, scenario.plain), (True, scenario.stream)):
            mode = "sse_direct" if streamed else "full"
            run = await load.run(
                "direct",
                direct_requests(infra, scenario, text, n),
                1,
                mode,
                warmup=direct_requests(infra, scenario, text + "w", warm),
            )
            out["direct stream" if streamed else "direct"] = {
                "p50_ms": run.latency_ms()["p50"],
                "first_p50_ms": run.first_ms().get("p50"),
            }
        out["firestore_read_p50_ms"] = await thread_read_ms(
            scenario.tenant_id, ids[1 : 1 + n], firestore_host
        )
        return out
    finally:
        fn.stop()


async def thread_read_ms(tenant: str, thread_ids: list[str], host: str) -> float:
    """p50 of a thread read (`get_thread`, the RPC before a `/chat` turn's model call) from this
    process through `host`; the service's client code, so its own CPU per call counts too."""
    from common.store import db, threads

    saved = os.environ["FIRESTORE_EMULATOR_HOST"]
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    db.reset_db()
    try:
        times = []
        for i, thread_id in enumerate([*thread_ids[:5], *thread_ids]):
            started = time.perf_counter()
            await threads.get_thread(tenant, thread_id, fresh=True)
            if i >= 5:  # the first five open the channel
                times.append((time.perf_counter() - started) * 1000)
        return load.percentiles(times)["p50"]
    finally:
        os.environ["FIRESTORE_EMULATOR_HOST"] = saved
        db.reset_db()


def table(rtt_ms: float, base: dict[str, Any], slow: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rows: list[str] = []
    report: dict[str, Any] = {}
    header = (
        f"| endpoint (c=1, p50) | overhead, RTT 0 | overhead, RTT {rtt_ms:g} ms | "
        "round trips before first byte | after last upstream chunk | in all |"
    )
    rows += [header, "|---|---|---|---|---|---|"]
    for ep in ENDPOINTS:
        direct = "direct stream" if ep.streamed else "direct"
        b, s = base[ep.name], slow[ep.name]
        over0 = b["p50_ms"] - base[direct]["p50_ms"]
        over1 = s["p50_ms"] - slow[direct]["p50_ms"]
        total = (over1 - over0) / rtt_ms
        if ep.streamed:
            f0 = b["first_p50_ms"] - base[direct]["first_p50_ms"]
            f1 = s["first_p50_ms"] - slow[direct]["first_p50_ms"]
            before = (f1 - f0) / rtt_ms
            after = total - before
            cells = (f"first {f0:.1f} / total {over0:.1f} ms", f"first {f1:.1f} / total {over1:.1f} ms")
        else:
            before, after = total, 0.0
            cells = (f"{over0:.1f} ms", f"{over1:.1f} ms")
        report[ep.name] = {"before_first_byte": round(before, 1), "after_last_chunk": round(after, 1)}
        rows.append(f"| `{ep.name}` | {cells[0]} | {cells[1]} | {before:.1f} | {after:.1f} | {total:.1f} |")
    rt0, rt1 = base["firestore_read_p50_ms"], slow["firestore_read_p50_ms"]
    beyond = []
    for side, rt in ((base, rt0), (slow, rt1)):
        first = side["/chat (SSE)"]["first_p50_ms"] - side["direct stream"]["first_p50_ms"]
        beyond.append(first - rt)
    report["chat_first_beyond_rtt_ms"] = [round(b, 1) for b in beyond]
    rows.append(
        f"\nOne Firestore round trip (a thread read from this process, p50): {rt0:.1f} ms at RTT 0, "
        f"{rt1:.1f} ms at RTT {rtt_ms:g}. `/chat` (SSE) first-delta overhead beyond it: "
        f"{beyond[0]:.1f} / {beyond[1]:.1f} ms (#14: <= 3 ms)."
    )
    return "\n".join(rows), report


async def run(rtt_ms: float, n: int) -> dict[str, Any]:
    register: list[Service] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            infra = start_infra(Path(tmp) / "secrets.json", register)
            scenario = add_fixtures(infra)
            proxy = start_delay_proxy(infra.firestore, rtt_ms)
            register.append(proxy)
            base = await measure(infra, scenario, infra.firestore.host, "rtt0", n)
            slow = await measure(infra, scenario, proxy.host, f"rtt{rtt_ms:g}", n)
            text, report = table(rtt_ms, base, slow)
            print(f"\nFirestore round trips on the critical path (RTT {rtt_ms:g} ms, {n} turns each)\n")
            print(text)
            return {"rtt_ms": rtt_ms, "rtt0": base, "rtt": slow, "round_trips": report, "table": text}
        finally:
            for svc in reversed(register):
                svc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rtt-ms", type=float, default=10.0)
    parser.add_argument("-n", type=int, default=60, help="requests per endpoint and RTT")
    args = parser.parse_args()
    asyncio.run(run(args.rtt_ms, args.n))


if __name__ == "__main__":
    main()
