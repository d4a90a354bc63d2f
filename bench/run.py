"""`make bench`: direct-to-aimock vs through the service, on a stack started here and stopped
by PID at the end. Prints tables and writes bench/results.json. See bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import accesslog, coldstart, fsprobe, load
from bench.procstat import cpu_ticks, group_rss_mb, loadavg, steal_share
from bench.report import render, targets
from bench.stack import (
    APP,
    ASSISTANT,
    SERVICE_ENV,
    Infra,
    add_fixtures,
    capture_upstream,
    direct_requests,
    fresh_tenant,
    phase,
    service_requests,
    start_infra,
)
from tests.support.services import Service

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass
class Sizes:
    c1: int = 300
    c1_warm: int = 20
    c32: int = 1000
    c32_warm: int = 96
    stream: int = 100
    stream_warm: int = 5
    emulator_warm: int = 400
    cold_repeats: int = 5
    fs_probe: int = 30


QUICK = Sizes(
    c1=30,
    c1_warm=5,
    c32=160,
    c32_warm=32,
    stream=20,
    stream_warm=2,
    emulator_warm=50,
    cold_repeats=2,
    fs_probe=5,
)


def cpu_probe(groups: dict[str, Service]) -> Callable[[], dict[str, float]]:
    from bench.procstat import group_cpu_seconds, system_busy_seconds

    def probe() -> dict[str, float]:
        out = {name: group_cpu_seconds(svc.proc.pid) for name, svc in groups.items()}
        out["loadgen"] = time.process_time()  # this process: the load generator
        # Everything else (other people's tests, the kernel's share of loopback traffic) is
        # `other` = whole-machine busy time minus the groups above; see Run.cpu_ms_per_request.
        out["machine"] = system_busy_seconds()
        return out

    return probe


async def load_phases(infra: Infra, sizes: Sizes) -> dict[str, Any]:
    """Each phase runs on a new emulator project with its own functions process (see Infra.new_project)."""
    res: dict[str, Any] = {"logs": {}}
    scenario = add_fixtures(infra)
    plain, stream = scenario.plain, scenario.stream
    runs: dict[str, load.Run] = {}

    def svc(base: Service, ids: list[str], text: str, streamed: bool, tag: str) -> list[load.Request]:
        return service_requests(base, scenario, ids, text, streamed, tag)

    def direct(text: str, n: int) -> list[load.Request]:
        return direct_requests(infra, scenario, text, n)

    def groups(fn: Service) -> Callable[[], dict[str, float]]:
        return cpu_probe({"functions": fn, "aimock": infra.aimock_svc, "firestore": infra.firestore})

    # One turn through the service, then copy the upstream request it made for the direct runs;
    # then unrecorded turns at c=8 so the emulator's JVM has compiled its hot paths.
    fn, ids = await phase(infra, scenario, "warm", 1 + sizes.emulator_warm)
    status = await asyncio.to_thread(
        coldstart.status_of, fn.url + "/health", coldstart.Probe("GET", "/health")
    )
    if status != 200:
        raise RuntimeError(f"GET /health answered {status}, not 200:\n{fn.log()}")
    first = await load.run("first", svc(fn, ids[:1], plain, False, "first"), 1)
    if first.errors:
        raise RuntimeError(f"first /chat failed: {first.summary()}")
    capture_upstream(infra, scenario, plain)
    res["upstream_request"] = {"path": scenario.upstream_path, "body": scenario.upstream_body}
    await load.run("emulator warm-up", svc(fn, ids[1:], plain, False, "jvm"), 8)
    fn.stop()

    for c, n, warm in ((1, sizes.c1, sizes.c1_warm), (32, sizes.c32, sizes.c32_warm)):
        fn, ids = await phase(infra, scenario, f"c{c}", warm + n)
        runs[f"c{c}_direct"] = await load.run(
            f"c{c} direct", direct(plain, n), c, warmup=direct(plain + "w", warm), cpu_probe=groups(fn)
        )
        runs[f"c{c}_service"] = await load.run(
            f"c{c} service",
            svc(fn, ids[warm:], plain, False, f"c{c}"),
            c,
            warmup=svc(fn, ids[:warm], plain, False, f"c{c}w"),
            cpu_probe=groups(fn),
        )
        if c == 32:  # the warm instance after warm + n (>= 1,000) turns; the supervisor is the harness's
            res["rss_mb"] = group_rss_mb(fn.proc.pid, skip=fn.proc.pid)
            res["rss_mb"]["turns"] = warm + n + 1
        fn.stop()
        seen, upstream = runs[f"c{c}_service"].latency_ms(), runs[f"c{c}_direct"].latency_ms()
        res[f"breakdown_c{c}"] = accesslog.breakdown(fn.log_path, f"c{c}", seen, upstream)
        res["logs"][f"c{c}_service"] = str(fn.log_path)

    warm, n = sizes.stream_warm, sizes.stream
    fn, ids = await phase(infra, scenario, "stream", warm + n)
    runs["stream_direct"] = await load.run(
        "stream direct", direct(stream, n), 1, "sse_direct", warmup=direct(stream + "w", warm)
    )
    runs["stream_service"] = await load.run(
        "stream service",
        svc(fn, ids[warm:], stream, True, "s"),
        1,
        "sse_service",
        warmup=svc(fn, ids[:warm], stream, True, "sw"),
    )
    fn.stop()
    res["logs"]["stream_service"] = str(fn.log_path)
    seen, upstream = runs["stream_service"].first_ms(), runs["stream_direct"].first_ms()
    res["breakdown_stream"] = accesslog.stream_breakdown(fn.log_path, "s", seen, upstream)

    # The c=32 service run again with the official OpenAI SDK (over aiohttp), then with our
    # wire client (the default) once more: A/B/A, so run-to-run drift is visible next to
    # the difference between the clients.
    warm, n = sizes.c32_warm, sizes.c32
    for name, client, tag in (
        ("c32_service_sdk", "aiohttp", "x32"),
        ("c32_service_wire2", "wire", "a32"),
    ):
        fn, ids = await phase(infra, scenario, tag, warm + n, client)
        runs[name] = await load.run(
            f"c32 service {client}",
            svc(fn, ids[warm:], plain, False, tag),
            32,
            warmup=svc(fn, ids[:warm], plain, False, tag + "w"),
            cpu_probe=groups(fn),
        )
        fn.stop()
        res["logs"][name] = str(fn.log_path)

    infra.new_project("probe")
    ids = await fresh_tenant(infra, scenario, sizes.fs_probe + sizes.cold_repeats)
    probe_ids = ids[: sizes.fs_probe]
    res["firestore_probe_ms"] = await fsprobe.probe(scenario.tenant_id, probe_ids, APP, ASSISTANT)
    res["runs"] = {name: r.summary() for name, r in runs.items()}
    res["_cold_chat"] = [
        coldstart.chat_probe({"thread_id": t, "message": f"{plain} cold{i}"}, scenario.auth)
        for i, t in enumerate(ids[sizes.fs_probe :])
    ]
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test, not a benchmark")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below: everything is stopped

    signal.signal(signal.SIGTERM, on_term)
    started = time.perf_counter()
    load_at_start = loadavg()
    ticks_at_start = cpu_ticks()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    backing: list[Service] = []
    infra: Infra | None = None
    try:
        print("starting firestore emulator, storage emulator and aimock ...", file=sys.stderr, flush=True)
        infra = start_infra(workdir / "secrets.json", backing)
        print("running load phases ...", file=sys.stderr, flush=True)
        res = asyncio.run(load_phases(infra, sizes))
        print("measuring cold starts and imports ...", file=sys.stderr, flush=True)
        res["cold_start"] = coldstart.measure_cold_starts(
            {**os.environ, **infra.env, **SERVICE_ENV}, res.pop("_cold_chat"), sizes.cold_repeats
        )
        res["health_imports"] = coldstart.health_imports({**os.environ, **infra.env})
    finally:
        if infra is not None:
            infra.stop()
        for svc in reversed(backing):
            svc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    res["targets"] = targets(res)
    res["meta"] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_at_start,
        "cpu_steal": round(steal_share(ticks_at_start, cpu_ticks()), 3),
        "python": platform.python_version(),
        "quick": args.quick,
        "sizes": vars(sizes),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(render(res))
    print(f"total {res['meta']['elapsed_s']} s; wrote {args.out}")
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
