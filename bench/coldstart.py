"""Cold starts (spawn -> first good answer) and the import cost of `functions.health`."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.services import ROOT, VENV_BIN, Service, free_port, spawn

BENCH = Path(__file__).resolve().parent
SDK_PREFIXES = ("openai", "cohere", "google.genai")
POLL_S = 0.005


@dataclass
class Probe:
    """What to ask a freshly spawned server until it answers 200."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] | None = None


def spawn_function(target: str, source: Path, env: dict[str, str]) -> Service:
    """functions-framework on `source`, run from the source's checkout: gunicorn puts its
    working directory first on sys.path, so that decides which `common` is imported."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "functions-framework"),
        "--target",
        target,
        "--source",
        str(source),
        "--asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    cwd = source.parent if source.name == "main.py" else ROOT
    return spawn(f"cold-{target}", cmd, port, env={**env, "PORT": str(port)}, cwd=cwd)


def status_of(url: str, probe: Probe) -> int | None:
    req = urllib.request.Request(url, data=probe.body, method=probe.method, headers=probe.headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return None  # not listening yet


def cold_start(
    target: str, source: Path, env: dict[str, str], probe: Probe, timeout: float = 30
) -> tuple[float, float]:
    """Seconds from spawning the process to the first 200 for `probe`, and the CPU seconds its
    processes used by then (steadier than wall time on a busy machine); the process is stopped."""
    return cold_start_of(lambda: spawn_function(target, source, env), probe, timeout)


def cold_start_of(start: Callable[[], Service], probe: Probe, timeout: float = 30) -> tuple[float, float]:
    """`cold_start` for any server `start()` spawns (the LiteLLM comparison starts its proxy)."""
    from bench.procstat import group_cpu_seconds, process_cpu_seconds

    started = time.perf_counter()
    svc = start()
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if svc.proc.poll() is not None:
                raise RuntimeError(f"{svc.name} exited early:\n{svc.log()}")
            status = status_of(svc.url + probe.path, probe)
            if status == 200:
                wall = time.perf_counter() - started
                # Without the harness's supervisor (the group leader), which is not the instance.
                cpu = group_cpu_seconds(svc.proc.pid) - process_cpu_seconds(svc.proc.pid)
                return wall, cpu
            if status is not None and status != 503:
                raise RuntimeError(
                    f"{svc.name} answered {status} to {probe.method} {probe.path}:\n{svc.log()}"
                )
            time.sleep(POLL_S)
        raise TimeoutError(f"{svc.name} gave no 200 within {timeout}s:\n{svc.log()}")
    finally:
        svc.stop()


def measure_cold_starts(
    env: dict[str, str], chat_probes: list[Probe], repeats: int, compare: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Interleave the targets (bare, health, chat) `repeats` times; report the medians.

    `compare`: another checkout whose `chat` is started too, interleaved (an A/B on one
    busy machine); it needs its own probes, so `chat_probes` holds 2 x `repeats`.
    """
    main = ROOT / "main.py"
    cases = {
        "bare /health": ("bare", BENCH / "bare.py", lambda i: Probe("GET", "/health")),
        "health /health": ("health", main, lambda i: Probe("GET", "/health")),
        "chat POST /chat": ("chat", main, lambda i: chat_probes[i]),
    }
    if compare is not None:
        cases["chat (compare)"] = ("chat", compare / "main.py", lambda i: chat_probes[repeats + i])
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(repeats):
        for name, (target, source, probe) in cases.items():
            wall, cpu = cold_start(target, source, env, probe(i))
            times[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: {
            "median_ms": round(statistics.median(ts) * 1000, 1),
            "min_ms": round(min(ts) * 1000, 1),
            "max_ms": round(max(ts) * 1000, 1),
            "runs_ms": [round(t * 1000, 1) for t in ts],
            "cpu_median_ms": round(statistics.median(cpus[name]) * 1000, 1),
            "cpu_runs_ms": [round(t * 1000) for t in cpus[name]],
        }
        for name, ts in times.items()
    }


_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def health_imports(env: dict[str, str]) -> dict[str, Any]:
    """`python -X importtime -c "import main; main.health"`: SDKs pulled in, top cumulative costs."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import main; main.health"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"importing main.health failed:\n{proc.stderr[-2000:]}")
    rows: list[dict[str, Any]] = []
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if m:
            rows.append(
                {
                    "module": m.group(4),
                    "self_ms": int(m.group(1)) / 1000,
                    "cumulative_ms": int(m.group(2)) / 1000,
                    "depth": (len(m.group(3)) - 1) // 2,
                }
            )
    modules: list[str] = [str(r["module"]) for r in rows]
    sdks = sorted({m for m in modules if any(m == p or m.startswith(p + ".") for p in SDK_PREFIXES)})
    top = sorted(rows, key=lambda r: r["cumulative_ms"], reverse=True)[:10]
    return {
        "imports_provider_sdk": bool(sdks),
        "provider_sdk_modules": sdks,
        "modules_imported": len(rows),
        "total_ms": round(sum(r["self_ms"] for r in rows), 1),
        "top10_cumulative": top,
    }


def chat_probe(body: dict[str, Any], headers: dict[str, str]) -> Probe:
    return Probe("POST", "/chat", json.dumps(body).encode(), {**headers, "Content-Type": "application/json"})


async def rss_after_turns(infra: Any, scenario: Any, turns: int, concurrency: int = 4) -> dict[str, float]:
    """RSS (MiB) of a fresh functions process after `turns` non-streamed `/chat` turns."""
    from bench import load
    from bench.procstat import group_rss_mb
    from bench.stack import phase, service_requests
    from common.store.db import reset_db

    reset_db()  # the seeding above ran on another event loop
    fn, ids = await phase(infra, scenario, "rss", turns)
    try:
        requests = service_requests(fn, scenario, ids, scenario.plain, False, "rss")
        run = await load.run("rss", requests, concurrency)
        if run.errors:
            raise RuntimeError(f"turns failed: {run.summary()}")
        # The supervisor (fn.proc) is the harness's, not the instance's: leave it out.
        return group_rss_mb(fn.proc.pid, skip=fn.proc.pid)
    finally:
        fn.stop()


def chat_imports(env: dict[str, str], probe: Probe) -> list[dict[str, Any]]:
    """One cold `chat` start under `-X importtime`: every import up to the first 200, including
    those the first request makes, as top-level rows (module, cumulative ms) largest first."""
    main = ROOT / "main.py"
    svc_env = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    port = free_port()
    cmd = [str(VENV_BIN / "functions-framework"), "--target", "chat", "--source", str(main), "--asgi"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    svc = spawn("cold-chat-importtime", cmd, port, env={**svc_env, "PORT": str(port)}, cwd=ROOT)
    try:
        deadline = time.perf_counter() + 60
        while status_of(svc.url + probe.path, probe) != 200:
            if time.perf_counter() > deadline or svc.proc.poll() is not None:
                raise RuntimeError(f"no 200:\n{svc.log()}")
            time.sleep(POLL_S)
        text = svc.log_path.read_text(errors="replace")
    finally:
        svc.stop()
    rows = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and len(m.group(3)) == 1:  # top level only: nested rows are inside these
            rows.append({"module": m.group(4), "cumulative_ms": int(m.group(2)) / 1000})
    return sorted(rows, key=lambda r: float(r["cumulative_ms"]), reverse=True)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.coldstart`: only the cold-start, import and RSS parts of `make bench`."""
    import argparse
    import asyncio
    import os
    import shutil
    import tempfile

    from bench.stack import SERVICE_ENV, add_fixtures, fresh_tenant, start_infra

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="cold starts per target (median reported)")
    parser.add_argument("--turns", type=int, default=1000, help="turns before RSS is read (0: skip)")
    parser.add_argument("--imports", action="store_true", help="also list a cold chat start's imports")
    parser.add_argument("--compare", type=Path, help="another checkout: cold-start its chat too (A/B)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    backing: list[Service] = []
    infra = None
    res: dict[str, Any] = {}
    try:
        infra = start_infra(workdir / "secrets.json", backing)
        scenario = add_fixtures(infra)
        infra.new_project("cold")

        async def seed() -> tuple[list[str], str]:
            ids = await fresh_tenant(infra, scenario, 2 * args.repeats + 1)
            return ids[1:], ids[0]

        ids, extra = asyncio.run(seed())
        probes = [
            chat_probe({"thread_id": t, "message": f"{scenario.plain} cold{i}"}, scenario.auth)
            for i, t in enumerate(ids)
        ]
        env = {**os.environ, **infra.env, **SERVICE_ENV}
        if args.imports:
            body = {"thread_id": extra, "message": f"{scenario.plain} imports"}
            res["chat_imports"] = chat_imports(env, chat_probe(body, scenario.auth))[:25]
        if args.repeats:
            res["cold_start"] = measure_cold_starts(env, probes, args.repeats, args.compare)
        if args.turns:
            res["rss_mb"] = asyncio.run(rss_after_turns(infra, scenario, args.turns))
    finally:
        if infra is not None:
            infra.stop()
        for svc in reversed(backing):
            svc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for name, v in res.get("cold_start", {}).items():
        print(
            f"{name:16} median {v['median_ms']:7.1f} ms  min {v['min_ms']:7.1f}"
            f"  cpu {v['cpu_median_ms']:6.1f} ms  runs {v['runs_ms']} cpu {v['cpu_runs_ms']}"
        )
    for row in res.get("chat_imports", []):
        print(f"  import {row['module']:40} {row['cumulative_ms']:8.1f} ms")
    if "rss_mb" in res:
        print(f"RSS after {args.turns} turns (MiB): {res['rss_mb']}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
