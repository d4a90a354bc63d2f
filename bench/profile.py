"""`python -m bench.profile [--stateless] [--stream]`: cProfile of warm turns (not in `make bench`).

gunicorn forks its worker, so cProfile cannot wrap `functions-framework`; instead the same ASGI
app (`functions_framework.aio.create_asgi_app("dev", "main.py")`) runs under plain uvicorn in a
child process. The child profiles its event-loop thread only between SIGUSR1 and SIGUSR2, so
imports and the warm-up turns stay out of the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import load
from bench.stack import (
    Infra,
    Scenario,
    add_fixtures,
    capture_upstream,
    fresh_tenant,
    service_requests,
    start_infra,
)
from tests.support.services import ROOT, Service, free_port, spawn, wait_http


def serve(port: int, out: Path) -> None:
    import uvicorn
    from functions_framework.aio import create_asgi_app

    app = create_asgi_app("dev", str(ROOT / "main.py"))
    prof = cProfile.Profile()

    def start(signum: int, frame: object) -> None:
        prof.enable()

    def stop(signum: int, frame: object) -> None:
        prof.disable()
        prof.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")


def _requests(
    fn: Service, scenario: Scenario, ids: list[str], text: str, stream: bool, tag: str, stateless: bool
) -> list[load.Request]:
    if stateless:
        from bench.rtt import completion_requests

        return completion_requests(fn, scenario, f"{text} {tag}", len(ids), stream)
    return service_requests(fn, scenario, ids, text, stream, tag)


async def drive(
    infra: Infra, turns: int, client: str, out: Path, stream: bool = False, stateless: bool = False
) -> None:
    port = free_port()
    env = {**infra.env, "PROVIDER_HTTP_CLIENT": client, "RATE_LIMIT_PER_MINUTE": "100000000"}
    cmd = [sys.executable, "-m", "bench.profile", "--serve", str(port), "--out", str(out)]
    child = spawn("profile", cmd, port, env=env)
    try:
        wait_http(child, "/health", timeout=60)
        scenario = add_fixtures(infra)
        ids = await fresh_tenant(infra, scenario, turns + 51)
        text = scenario.stream if stream else scenario.plain
        first = await load.run("first", service_requests(child, scenario, ids[:1], text, stream, "p"), 1)
        if first.errors:
            raise RuntimeError(first.summary())
        capture_upstream(infra, scenario, text)
        warm = _requests(child, scenario, ids[1:51], text, stream, "pw", stateless)
        await load.run("warm", warm, 1)
        child.send(signal.SIGUSR1)
        run = await load.run(
            "profiled", _requests(child, scenario, ids[51:], text, stream, "pp", stateless), 1
        )
        child.send(signal.SIGUSR2)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            await asyncio.sleep(0.05)
        print(
            f"{turns} warm {'streamed ' if stream else ''}"
            f"{'/chat/v1/chat/completions' if stateless else '/chat'} at c=1 under cProfile ({client}): "
            f"{run.latency_ms()} ms, {run.errors} errors"
        )
    finally:
        child.stop()


GROUPS = (
    ("firestore client (grpc, proto, google.*)", ("grpc/", "proto/", "google/")),
    ("provider client (openai SDK, httpx, aiohttp)", ("openai/", "httpx", "aiohttp/", "httpcore/", "anyio/")),
    ("HTTP server (uvicorn, h11, starlette, ff)", ("uvicorn/", "h11/", "starlette/", "functions_framework/")),
    ("pydantic", ("pydantic",)),
    ("service code (common/, functions/)", ("common/", "functions/")),
    ("asyncio + stdlib", ("/lib/python3",)),
)


def _group(file: str) -> str:
    if file.startswith("~"):
        return "builtins (C calls)"
    for label, needles in GROUPS:
        if any(n in file for n in needles):
            return label
    return "other"


def report(out: Path, turns: int, top: int) -> None:
    stats = pstats.Stats(str(out))
    raw = stats.stats  # type: ignore[attr-defined]
    idle = sum(v[2] for (f, _, n), v in raw.items() if "poll" in n and "epoll" in n)
    busy = sum(v[2] for v in raw.values()) - idle
    print(f"event-loop thread, per turn: {busy * 1000 / turns:.2f} ms busy (cProfile inflates pure-Python")
    print(f"code 2-4x), {idle * 1000 / turns:.2f} ms waiting in epoll")
    by_group: dict[str, float] = {}
    for (file, _, name), v in raw.items():
        if not ("poll" in name and "epoll" in name):
            by_group[_group(file)] = by_group.get(_group(file), 0.0) + v[2]
    print("\nown time per turn by package:")
    for label, tt in sorted(by_group.items(), key=lambda kv: kv[1], reverse=True):
        print(f"  {tt * 1000 / turns:7.3f} ms  {label}")
    print(f"\ntop {top} functions by own time, per turn (coroutine resumptions count as calls):")
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (file, line, name), (_, calls, tt, ct, _) in rows:
        short = file.replace(str(ROOT) + "/", "").split("site-packages/")[-1].split("/lib/python3.11/")[-1]
        per = f"{tt * 1000 / turns:7.3f} ms {ct * 1000 / turns:7.3f} cum {calls / turns:6.1f}x"
        print(f"  {per} {short}:{line} {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--client", choices=("wire", "aiohttp", "httpx"), default="wire")
    parser.add_argument("--stream", action="store_true", help="profile streamed turns (SSE)")
    parser.add_argument(
        "--stateless", action="store_true", help="profile the OpenAI-compatible endpoint, not /chat"
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.out)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    out = args.out or workdir / "chat.prof"
    backing: list[Service] = []
    try:
        infra = start_infra(workdir / "secrets.json", backing)
        asyncio.run(drive(infra, args.turns, args.client, out, args.stream, args.stateless))
        report(out, args.turns, args.top)
    finally:
        for svc in reversed(backing):
            svc.stop()
        if args.out is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
