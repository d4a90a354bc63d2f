"""A closed-loop load generator on aiohttp: `concurrency` workers, each sending its next request
as soon as the previous one has been read to the end."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

Mode = Literal["full", "sse_service", "sse_direct"]


@dataclass
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Sample:
    latency_s: float
    first_s: float | None = None  # time to the first text delta (SSE modes only)
    ok: bool = True
    error: str = ""


@dataclass
class Run:
    name: str
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    # CPU seconds each watched process group (functions, aimock, firestore) spent during the run.
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def errors(self) -> int:
        return len(self.samples) - len(self.ok)

    @property
    def rps(self) -> float:
        return len(self.ok) / self.wall_s if self.wall_s else 0.0

    def cpu_ms_per_request(self) -> dict[str, float]:
        n = len(self.samples) or 1
        cpu = dict(self.cpu_s)
        if "machine" in cpu:
            machine = cpu.pop("machine")
            cpu["other"] = max(0.0, machine - sum(cpu.values()))
        return {group: round(sec * 1000 / n, 3) for group, sec in cpu.items()}

    def latency_ms(self) -> dict[str, float]:
        return percentiles([s.latency_s * 1000 for s in self.ok])

    def first_ms(self) -> dict[str, float]:
        return percentiles([s.first_s * 1000 for s in self.ok if s.first_s is not None])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": len(self.samples),
            "errors": self.errors,
            "concurrency": self.concurrency,
            "wall_s": round(self.wall_s, 3),
            "rps": round(self.rps, 1),
            "latency_ms": self.latency_ms(),
        }
        if any(s.first_s is not None for s in self.samples):
            out["first_delta_ms"] = self.first_ms()
        if self.cpu_s:
            out["cpu_s"] = {group: round(sec, 3) for group, sec in self.cpu_s.items()}
            out["cpu_ms_per_request"] = self.cpu_ms_per_request()
        first_errors = sorted({s.error for s in self.samples if not s.ok})[:3]
        if first_errors:
            out["error_examples"] = first_errors
        return out


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return {"p50": v, "p95": v, "p99": v, "mean": v}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(q[49], 3),
        "p95": round(q[94], 3),
        "p99": round(q[98], 3),
        "mean": round(statistics.fmean(values), 3),
    }


def _direct_has_text(buf: bytes) -> bool:
    """True once an OpenAI SSE chunk with non-empty `delta.content` has fully arrived."""
    for block in buf.split(b"\n\n")[:-1]:  # the last piece may be incomplete
        for line in block.splitlines():
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            try:
                chunk = json.loads(line[6:])
            except ValueError:
                continue
            for choice in chunk.get("choices") or ():
                if (choice.get("delta") or {}).get("content"):
                    return True
    return False


def _service_has_delta(buf: bytes) -> bool:
    return b"event: delta" in buf


_DETECT: dict[Mode, Callable[[bytes], bool]] = {
    "sse_service": _service_has_delta,
    "sse_direct": _direct_has_text,
}


async def one(session: aiohttp.ClientSession, req: Request, mode: Mode) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    try:
        async with session.post(req.url, data=req.body, headers=req.headers) as resp:
            if mode == "full":
                body = await resp.read()
            else:
                detect, buf = _DETECT[mode], b""
                async for chunk in resp.content.iter_any():
                    if first is None:
                        buf += chunk
                        if detect(buf):
                            first = time.perf_counter() - started
                body = buf
            elapsed = time.perf_counter() - started
            if resp.status != 200:
                return Sample(elapsed, first, False, f"HTTP {resp.status}: {body[:200]!r}")
            if mode != "full" and first is None:
                return Sample(elapsed, None, False, f"no text delta in {body[:200]!r}")
            return Sample(elapsed, first)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Sample(time.perf_counter() - started, None, False, f"{type(exc).__name__}: {exc}")


async def run(
    name: str,
    requests: list[Request],
    concurrency: int,
    mode: Mode = "full",
    warmup: list[Request] | None = None,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> Run:
    """Send `warmup` (unrecorded, same session) then `requests` with `concurrency` workers."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=60)
    result = Run(name, concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def drive(batch: list[Request], sink: list[Sample] | None) -> None:
            it = iter(batch)

            async def worker() -> None:
                for req in it:
                    sample = await one(session, req, mode)
                    if sink is not None:
                        sink.append(sample)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        if warmup:
            await drive(warmup, None)
        cpu_before = cpu_probe() if cpu_probe else {}
        started = time.perf_counter()
        await drive(requests, result.samples)
        result.wall_s = time.perf_counter() - started
        if cpu_probe:
            after = cpu_probe()
            result.cpu_s = {group: after[group] - cpu_before[group] for group in after}
    return result
