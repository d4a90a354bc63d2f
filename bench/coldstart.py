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
    return spawn(f"cold-{target}", cmd, port, env={**env, "PORT": str(port)})


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


def cold_start(target: str, source: Path, env: dict[str, str], probe: Probe, timeout: float = 30) -> float:
    """Seconds from spawning the process to the first 200 for `probe`; the process is stopped."""
    started = time.perf_counter()
    svc = spawn_function(target, source, env)
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if svc.proc.poll() is not None:
                raise RuntimeError(f"{target} exited early:\n{svc.log()}")
            status = status_of(svc.url + probe.path, probe)
            if status == 200:
                return time.perf_counter() - started
            if status is not None and status != 503:
                raise RuntimeError(f"{target} answered {status} to {probe.method} {probe.path}:\n{svc.log()}")
            time.sleep(POLL_S)
        raise TimeoutError(f"{target} gave no 200 within {timeout}s:\n{svc.log()}")
    finally:
        svc.stop()


def measure_cold_starts(
    env: dict[str, str], chat_probes: list[Probe], repeats: int
) -> dict[str, dict[str, Any]]:
    """Interleave the targets (bare, health, chat) `repeats` times; report the medians."""
    main = ROOT / "main.py"
    cases = {
        "bare /health": ("bare", BENCH / "bare.py", lambda i: Probe("GET", "/health")),
        "health /health": ("health", main, lambda i: Probe("GET", "/health")),
        "chat POST /chat": ("chat", main, lambda i: chat_probes[i]),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(repeats):
        for name, (target, source, probe) in cases.items():
            times[name].append(cold_start(target, source, env, probe(i)))
    return {
        name: {
            "median_ms": round(statistics.median(ts) * 1000, 1),
            "min_ms": round(min(ts) * 1000, 1),
            "max_ms": round(max(ts) * 1000, 1),
            "runs_ms": [round(t * 1000, 1) for t in ts],
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
