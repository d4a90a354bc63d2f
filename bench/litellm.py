"""`make bench-litellm`: this service's OpenAI-compatible endpoint and LiteLLM's proxy, side by
side in one run, against the same aimock, on the same 2 cores.

Why: this machine is a shared VM whose speed drifts (the bare function's cold start was
150 ms in November and 370-500 ms in December), so an absolute millisecond target
says as much about the day as about the code. LiteLLM's proxy is what operators compare us
with; measured in the same run, in interleaved rounds, the ratio of the two overheads holds
from one day to the next where the milliseconds do not.

Each request is `POST /v1/chat/completions` with one user message, sent by the same aiohttp
load generator (bench/load.py):

* **direct**: to aimock itself, the floor;
* **litellm**: to `litellm --config` (pinned in the Makefile, in its own venv under
  `.bench/`, never a dependency of the service), one model routed to aimock, a master key,
  no database: LiteLLM's lightest configuration;
* **service**: to `/chat/v1/chat/completions` of `functions-framework --target dev`, with a
  client key (auth, config, rate limit, budget, usage, like production).

Latency rows interleave the three targets in rounds, so a slow minute of the VM hits each one.
CPU is each server's process group (utime+stime from /proc) over the c=32 run; RSS is read
after every request of the run; cold start is spawn -> first 200 of a completion.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import load
from bench.coldstart import Probe, cold_start, cold_start_of
from bench.procstat import cpu_ticks, group_cpu_seconds, group_rss_mb, loadavg, steal_share
from bench.stack import (
    SERVICE_ENV,
    Infra,
    Scenario,
    add_fixtures,
    capture_upstream,
    phase,
    service_requests,
    start_infra,
)
from tests.support.services import ROOT, Service, free_port, spawn, wait_http

MASTER_KEY = "sk-bench-litellm-master"
MODEL = "bench"


def litellm_config(path: Path, scenario: Scenario, aimock_url: str) -> Path:
    cfg = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": f"openai/{scenario.upstream_body['model']}",
                    "api_base": aimock_url + "/v1",
                    "api_key": scenario.upstream_headers["Authorization"].removeprefix("Bearer "),
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    path.write_text(json.dumps(cfg))  # YAML is a superset of JSON
    return path


def start_litellm(binary: str, config: Path, port: int | None = None) -> Service:
    port = port or free_port()
    cmd = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return spawn("litellm", cmd, port, env={"LITELLM_TELEMETRY": "False"})


class Targets:
    """Request builders for the three targets; every body differs by a counter (`q{i}`)."""

    def __init__(self, infra: Infra, scenario: Scenario, fn: Service, ll: Service) -> None:
        self.urls = {
            "direct": infra.aimock_svc.url + "/v1/chat/completions",
            "litellm": ll.url + "/v1/chat/completions",
            "service": fn.url + "/chat/v1/chat/completions",
        }
        self.models = {
            "direct": scenario.upstream_body["model"],
            "litellm": MODEL,
            "service": "support-openai",
        }
        self.headers = {
            "direct": scenario.upstream_headers,
            "litellm": {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
            "service": {**scenario.auth, "Content-Type": "application/json"},
        }
        self.counter = 0

    def requests(self, target: str, text: str, n: int, stream: bool) -> list[load.Request]:
        out = []
        for _ in range(n):
            self.counter += 1
            body = {
                "model": self.models[target],
                "messages": [{"role": "user", "content": f"{text} q{self.counter}"}],
                "stream": stream,
            }
            out.append(load.Request(self.urls[target], json.dumps(body).encode(), self.headers[target]))
        return out


NAMES = ("direct", "litellm", "service")


async def interleaved(
    t: Targets, text: str, rounds: int, per_round: int, stream: bool
) -> dict[str, list[load.Sample]]:
    samples: dict[str, list[load.Sample]] = {n: [] for n in NAMES}
    mode: load.Mode = "sse_direct" if stream else "full"
    for name in NAMES:  # unrecorded: connections open, JITs and caches warm
        await load.run("warm", t.requests(name, text + "w", 20, stream), 1, mode)
    for _ in range(rounds):
        for name in NAMES:
            run = await load.run(name, t.requests(name, text, per_round, stream), 1, mode)
            if run.errors:
                raise RuntimeError(f"{name}: {run.summary()}")
            samples[name] += run.samples
    return samples


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def measure(infra: Infra, binary: str, sizes: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    scenario = add_fixtures(infra)
    fn, ids = await phase(infra, scenario, "litellm", 1)
    first = await load.run("first", service_requests(fn, scenario, ids, scenario.plain, False, "f"), 1)
    if first.errors:
        raise RuntimeError(f"first /chat failed: {first.summary()}\n{fn.log()}")
    capture_upstream(infra, scenario, scenario.plain)
    ll = start_litellm(binary, litellm_config(workdir / "litellm.yaml", scenario, infra.aimock_svc.url))
    infra.started.append(ll)
    await asyncio.to_thread(wait_http, ll, "/health/liveliness", 120.0, (200,))
    t = Targets(infra, scenario, fn, ll)
    res: dict[str, Any] = {}

    plain = await interleaved(t, scenario.plain, sizes.rounds, sizes.per_round, False)
    res["c1"] = {n: p50([s.latency_s for s in plain[n]]) for n in NAMES}
    streamed = await interleaved(t, scenario.stream, max(1, sizes.rounds // 2), sizes.per_round // 2, True)
    res["first"] = {n: p50([s.first_s for s in streamed[n] if s.first_s is not None]) for n in NAMES}
    res["end"] = {n: p50([s.latency_s for s in streamed[n]]) for n in NAMES}

    groups = {"litellm": ll, "service": fn}
    res["c32"] = {}
    for name in NAMES:
        before = {g: group_cpu_seconds(s.proc.pid) for g, s in groups.items()}
        run = await load.run(
            name,
            t.requests(name, scenario.plain, sizes.c32, False),
            32,
            warmup=t.requests(name, scenario.plain + "w", 96, False),
        )
        if run.errors:
            raise RuntimeError(f"{name} c=32: {run.summary()}")
        own = groups.get(name)
        cpu = (group_cpu_seconds(own.proc.pid) - before[name]) * 1000 / sizes.c32 if own else 0.0
        res["c32"][name] = {"p50": run.latency_ms()["p50"], "rps": run.rps, "cpu_ms": cpu}
    res["rss"] = {g: group_rss_mb(s.proc.pid, skip=s.proc.pid)["total"] for g, s in groups.items()}
    fn.stop()
    ll.stop()

    # Cold start: spawn -> first 200 of a completion, interleaved.
    cold: dict[str, list[float]] = {"litellm": [], "service": []}
    body = {"model": "support-openai", "messages": [{"role": "user", "content": scenario.plain}]}
    # The `chat` function alone, as deployed: its URL's root is the chat function's.
    service_probe = Probe("POST", "/v1/chat/completions", json.dumps(body).encode(), t.headers["service"])
    env = {**os.environ, **infra.env, **SERVICE_ENV}
    ll_body = json.dumps({**body, "model": MODEL}).encode()
    ll_probe = Probe("POST", "/v1/chat/completions", ll_body, t.headers["litellm"])
    for _ in range(sizes.cold):
        cold["service"].append(cold_start("chat", ROOT / "main.py", env, service_probe)[0])
        spawn_litellm = functools.partial(start_litellm, binary, workdir / "litellm.yaml")
        cold["litellm"].append(cold_start_of(spawn_litellm, ll_probe, timeout=120)[0])
    res["cold_ms"] = {n: statistics.median(v) * 1000 for n, v in cold.items()}
    return res


# What #14 asked for in November, when the same bench measured LiteLLM at these figures:
# the targets as fractions of LiteLLM's figure of the same run.
NOVEMBER = {
    "c1": (3.0, 14.6),  # stateless non-streamed overhead p50, ms: target, LiteLLM then
    "first": (3.0, 15.3),  # streamed first-delta overhead p50, ms
}


def report(res: dict[str, Any]) -> str:
    rows = [
        "| measure (p50) | direct | LiteLLM | this service | service / LiteLLM | #14 bar |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (("c1", "non-streamed, c=1"), ("first", "streamed, first delta, c=1")):
        d, ll, sv = res[key]["direct"], res[key]["litellm"], res[key]["service"]
        target, then = NOVEMBER[key]
        ratio = (sv - d) / (ll - d) if ll > d else float("nan")
        rows.append(
            f"| {label}: overhead over direct | {d:.1f} ms | +{ll - d:.1f} ms | +{sv - d:.1f} ms "
            f"| {ratio:.2f}x | <= {target / then:.2f}x ({target:g} of {then:g} ms) |"
        )
    d, ll, sv = (res["end"][n] for n in NAMES)
    rows.append(
        f"| streamed, end of stream, c=1 | {d:.1f} ms | +{ll - d:.1f} ms | +{sv - d:.1f} ms | - | - |"
    )
    c = res["c32"]
    rows.append(
        f"| non-streamed, c=32: p50 / req/s | {c['direct']['p50']:.1f} ms / {c['direct']['rps']:.0f} "
        f"| {c['litellm']['p50']:.1f} ms / {c['litellm']['rps']:.0f} | {c['service']['p50']:.1f} ms / "
        f"{c['service']['rps']:.0f} | {c['service']['rps'] / c['litellm']['rps']:.2f}x req/s | - |"
    )
    cpu = c["service"]["cpu_ms"] / c["litellm"]["cpu_ms"]
    rows.append(
        f"| CPU per request, c=32 (server's processes) | - | {c['litellm']['cpu_ms']:.2f} ms "
        f"| {c['service']['cpu_ms']:.2f} ms | {cpu:.2f}x | - |"
    )
    rss = res["rss"]
    rows.append(
        f"| RSS after the run | - | {rss['litellm']:.0f} MiB | {rss['service']:.0f} MiB "
        f"| {rss['service'] / rss['litellm']:.2f}x | <= 150 MB |"
    )
    cold = res["cold_ms"]
    rows.append(
        f"| cold start to first completion 200 | - | {cold['litellm']:.0f} ms | {cold['service']:.0f} ms "
        f"| {cold['service'] / cold['litellm']:.2f}x | - |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--litellm", default=os.environ.get("LITELLM_BIN", ".bench/litellm/bin/litellm"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=50)
    parser.add_argument("--c32", type=int, default=800)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/litellm.json"))
    args = parser.parse_args(argv)
    if not Path(args.litellm).exists():
        print(
            f"no LiteLLM at {args.litellm}: `make bench-litellm` installs it in .bench/litellm",
            file=sys.stderr,
        )
        return 2
    register: list[Service] = []
    ticks = cpu_ticks()
    load_at_start = loadavg()
    infra: Infra | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            infra = start_infra(Path(tmp) / "secrets.json", register)
            res = asyncio.run(measure(infra, args.litellm, args, Path(tmp)))
        finally:
            if infra is not None:
                infra.stop()  # the functions and LiteLLM it started, then the backing services
            for svc in reversed(register):
                svc.stop()
    steal = steal_share(ticks, cpu_ticks())
    res["machine"] = {
        "load_at_start": load_at_start,
        "cpu_steal": round(steal, 3),
        "date": time.strftime("%Y-%m-%d"),
    }
    table = report(res)
    print(f"\nLiteLLM's proxy and this service, one run ({res['machine']['date']}, CPU steal {steal:.0%})\n")
    print(table)
    args.out.write_text(json.dumps({**res, "table": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
