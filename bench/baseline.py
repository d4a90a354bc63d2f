"""`make bench-baseline` (`python -m bench.baseline [--ref REF]`): this code and an earlier
commit's, side by side on one stack, in interleaved rounds.

Why: this machine is a shared VM whose speed drifts two to three times within a day, so a
figure measured in November and one measured today say as much about the two days as about
the code. The code that produced November's figure can run again, next to ours, in the same
minutes: the ratio of the two holds where the milliseconds do not. `REF` defaults to the
2026-11-21 commit #14's figures were measured on (`/chat` CPU 1.9-2.1 ms per turn at c=32;
the stateless endpoint +10.8 ms non-streamed and +3.0 ms to the first delta; `/chat`'s first
delta +3.8-4.4 ms; the cold start to the first `POST /chat` 840-900 ms), and each row
is also given in those terms: November's figure times the ratio measured now.

Both processes run `functions-framework --target dev` from their own source tree (`REF` is
exported with `git archive` into `.bench/baseline-<sha>`) on the same venv, emulators and
aimock. Each round starts a new emulator project, a fresh process and a fresh tenant for each
side, and alternates which side goes first. A tenant is seeded by this code; record fields
that the older code does not know (it forbids unknown fields) are removed from its copy
(`LEGACY_FIELDS`); none of them is on the measured path.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import load
from bench.coldstart import BENCH, Probe, chat_probe, cold_start, spawn_function
from bench.procstat import cpu_ticks, group_cpu_seconds, loadavg, steal_share
from bench.rtt import completion_requests
from bench.stack import (
    SERVICE_ENV,
    Infra,
    Scenario,
    add_fixtures,
    capture_upstream,
    direct_requests,
    fresh_tenant,
    phase,
    service_requests,
    start_infra,
)
from tests.support.services import ROOT, Service, wait_http

NOVEMBER_REF = "1368467"  # 2026-11-21, the code #14's "today" figures were measured on
# Record fields added since NOVEMBER_REF, by collection and model class; removed for a tree
# whose class lacks them.
LEGACY_FIELDS = (
    ("credentials", "Credential", "host_proof"),
    ("credentials", "Credential", "host"),
    ("credentials", "Credential", "kind"),
    ("models", "Model", "supports_images"),
    ("providers", "Provider", "config"),
)


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    november: tuple[float, float] | None  # the figure REF gave then (low, high), ms
    target: str


MEASURES = (
    Measure("cpu_c32", "`/chat` CPU of the functions process per turn, c=32", (1.9, 2.1), "<= 2 ms"),
    Measure(
        "stateless_c1", "`/chat/v1/chat/completions` non-streamed overhead p50, c=1", (10.8, 10.8), "<= 3 ms"
    ),
    Measure(
        "stateless_first",
        "`/chat/v1/chat/completions` streamed first-delta overhead p50, c=1",
        (3.0, 3.0),
        "<= 3 ms",
    ),
    Measure(
        "chat_first",
        "`/chat` streamed first-delta overhead p50, c=1 (one Firestore read included)",
        (3.8, 4.4),  # README, 2026-11-21 table; the emulator then answered a read in ~1-2 ms
        "<= RTT + 3 ms",
    ),
    Measure("cold_chat", "cold start to the first `POST /chat` 200 (`chat` target)", (840, 900), "<= 600 ms"),
)


@dataclass
class Side:
    name: str
    root: Path
    strip: list[tuple[str, str]]
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, values: list[float]) -> None:
        self.samples.setdefault(key, []).extend(values)


def export(ref: str) -> Path:
    """`ref`'s tree under .bench/ (once per commit)."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=12", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    out = ROOT / ".bench" / f"baseline-{sha}"
    if not (out / "main.py").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def legacy_fields(root: Path) -> list[tuple[str, str]]:
    """(collection, field) of `LEGACY_FIELDS` that `root`'s record classes do not declare."""
    tree = ast.parse((root / "common" / "config" / "models.py").read_text())
    declared = {
        node.name: {
            a.target.id for a in node.body if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
        }
        for node in tree.body
        if isinstance(node, ast.ClassDef)
    }
    return [(c, f) for c, cls, f in LEGACY_FIELDS if f not in declared.get(cls, set())]


async def strip(tenant: str, fields: list[tuple[str, str]]) -> None:
    if not fields:
        return
    from google.cloud import firestore

    from common.store.db import tenant_collection

    for collection, name in fields:
        async for snap in tenant_collection(tenant, collection).stream():
            if name in (snap.to_dict() or {}):
                await snap.reference.update({name: firestore.DELETE_FIELD})


def firsts(run: load.Run) -> list[float]:
    return [s.first_s for s in run.samples if s.first_s is not None]


async def one_side(infra: Infra, scenario: Scenario, side: Side, sizes: argparse.Namespace, tag: str) -> None:
    """Every measure once on a fresh process, project and tenant; `direct` right before each."""

    async def checked(
        name: str,
        reqs: list[load.Request],
        c: int,
        mode: load.Mode,
        warm: list[load.Request],
        probe: Callable[[], dict[str, float]] | None = None,
    ) -> load.Run:
        run = await load.run(name, reqs, c, mode, warmup=warm, cpu_probe=probe)
        if run.errors:
            raise RuntimeError(f"{side.name} {name}: {run.summary()}")
        return run

    infra.new_project(f"{tag}-{side.name}")
    fn = spawn_function("dev", side.root / "main.py", {**infra.env, **SERVICE_ENV})
    infra.started.append(fn)
    await asyncio.to_thread(wait_http, fn, "/health", 60.0)
    try:
        n_stream, warm = sizes.stream, 5
        ids = iter(await fresh_tenant(infra, scenario, 1 + 2 * warm + n_stream + 96 + sizes.c32, fn))
        await strip(scenario.tenant_id, side.strip)

        def threads(n: int) -> list[str]:
            return [next(ids) for _ in range(n)]

        plain, stream = scenario.plain, scenario.stream
        await checked(
            "first", service_requests(fn, scenario, threads(1), plain, False, f"{tag}f"), 1, "full", []
        )
        direct = await checked(
            "direct",
            direct_requests(infra, scenario, plain, sizes.c1),
            1,
            "full",
            direct_requests(infra, scenario, plain + "w", 20),
        )
        run = await checked(
            "stateless",
            completion_requests(fn, scenario, plain, sizes.c1, False),
            1,
            "full",
            completion_requests(fn, scenario, plain + "w", 20, False),
        )
        side.add("stateless_c1", [s.latency_s for s in run.samples])
        side.add("direct_c1", [s.latency_s for s in direct.samples])
        direct = await checked(
            "direct stream",
            direct_requests(infra, scenario, stream, n_stream),
            1,
            "sse_direct",
            direct_requests(infra, scenario, stream + "w", warm),
        )
        side.add("direct_first", firsts(direct))
        run = await checked(
            "stateless stream",
            completion_requests(fn, scenario, stream, n_stream, True),
            1,
            "sse_direct",
            completion_requests(fn, scenario, stream + "w", warm, True),
        )
        side.add("stateless_first", firsts(run))
        use = threads(warm + n_stream)
        run = await checked(
            "chat stream",
            service_requests(fn, scenario, use[warm:], stream, True, f"{tag}s"),
            1,
            "sse_service",
            service_requests(fn, scenario, use[:warm], stream, True, f"{tag}sw"),
        )
        side.add("chat_first", firsts(run))
        use = threads(96 + sizes.c32)

        def cpu() -> dict[str, float]:
            return {"functions": group_cpu_seconds(fn.proc.pid)}

        run = await checked(
            "chat c=32",
            service_requests(fn, scenario, use[96:], plain, False, f"{tag}c"),
            32,
            "full",
            service_requests(fn, scenario, use[:96], plain, False, f"{tag}cw"),
            cpu,
        )
        side.add("cpu_c32", [run.cpu_ms_per_request()["functions"] / 1000])  # seconds, as the rest
        print(
            f"  {tag} {side.name}: {run.cpu_ms_per_request()['functions']:.2f} ms CPU per turn at c=32",
            flush=True,
        )
    finally:
        fn.stop()


async def measure(infra: Infra, sides: list[Side], sizes: argparse.Namespace) -> None:
    scenario = add_fixtures(infra)
    # One turn through this code to copy the upstream request for `direct`, then turns at c=8
    # so the emulator's JVM has compiled its hot paths before anything is recorded.
    fn, ids = await phase(infra, scenario, "warm", 401)
    first = await load.run("first", service_requests(fn, scenario, ids[:1], scenario.plain, False, "f"), 1)
    if first.errors:
        raise RuntimeError(f"first /chat failed: {first.summary()}\n{fn.log()}")
    capture_upstream(infra, scenario, scenario.plain)
    await load.run("emulator warm-up", service_requests(fn, scenario, ids[1:], scenario.plain, False, "j"), 8)
    fn.stop()
    for r in range(sizes.rounds):
        for side in sides if r % 2 == 0 else reversed(sides):
            await one_side(infra, scenario, side, sizes, f"r{r}")
    await cold_starts(infra, scenario, sides, sizes.cold)


async def cold_starts(infra: Infra, scenario: Scenario, sides: list[Side], repeats: int) -> None:
    """Spawn -> first `POST /chat` 200 of each side's `chat` target (and the bare function's
    `/health`, the machine's floor), interleaved; a tenant per side in one project."""
    infra.new_project("cold")
    probes: dict[str, list[Probe]] = {}
    for side in sides:
        ids = await fresh_tenant(infra, scenario, repeats)
        await strip(scenario.tenant_id, side.strip)
        probes[side.name] = [
            chat_probe({"thread_id": t, "message": f"{scenario.plain} cold{i}"}, scenario.auth)
            for i, t in enumerate(ids)
        ]
    env = {**os.environ, **infra.env, **SERVICE_ENV}
    for i in range(repeats):
        bare = await asyncio.to_thread(cold_start, "bare", BENCH / "bare.py", env, Probe("GET", "/health"))
        for side in sides:
            side.add("cold_bare", [bare[0]])
            wall, _ = await asyncio.to_thread(
                cold_start, "chat", side.root / "main.py", env, probes[side.name][i]
            )
            side.add("cold_chat", [wall])


def figures(side: Side) -> dict[str, float]:
    """p50 of the pooled samples, ms; overheads over the same side's `direct` runs."""
    s = {k: statistics.median(v) * 1000 for k, v in side.samples.items()}
    return {
        "cpu_c32": s["cpu_c32"],
        "stateless_c1": s["stateless_c1"] - s["direct_c1"],
        "stateless_first": s["stateless_first"] - s["direct_first"],
        "chat_first": s["chat_first"] - s["direct_first"],
        "cold_chat": s["cold_chat"],
        "cold_bare": s["cold_bare"],
    }


def _span(lo: float, hi: float, unit: str = " ms") -> str:
    d = 0 if lo >= 100 else 1
    return f"{lo:.{d}f}-{hi:.{d}f}{unit}" if round(lo, d) != round(hi, d) else f"{lo:.{d}f}{unit}"


def report(ref: str, base: dict[str, float], ours: dict[str, float], runs: dict[str, list[float]]) -> str:
    """Two ways back to November's milliseconds, both from this run (see the module docstring).

    - *in those terms*: November's figure x this run's ratio. Apt where both codes do the
      same work; not for the stateless endpoint, whose November code awaited a Firestore
      write (an emulator round trip that does not scale with the CPU) that this code drops.
    - *at November's speed*: this code's figure / the machine's slowdown, measured as the
      November code's CPU per `/chat` turn now over then (1.9-2.1 ms). Apt for figures made
      of CPU and loopback wake-ups, which is all the stateless endpoint's overhead is.
    """
    november = ref == NOVEMBER_REF  # the figures of 2026-11-21 were measured on that code
    slow_lo, slow_hi = base["cpu_c32"] / 2.1, base["cpu_c32"] / 1.9
    rows = [
        f"| measure | `{ref}` now | this code now | this / `{ref}` | `{ref}` on 2026-11-21 "
        "| this code in those terms | this code at November's speed | #14's target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in MEASURES:
        b, o = base[m.key], ours[m.key]
        ratio = o / b if b > 0 else float("nan")
        then = terms = speed = "-"
        if m.november and november:
            lo, hi = m.november
            then = _span(lo, hi)
            terms = _span(lo * ratio, hi * ratio)
            speed = _span(o / slow_hi, o / slow_lo)
        cells = (m.label, f"{b:.2f} ms", f"{o:.2f} ms", f"{ratio:.2f}x", then, terms, speed, m.target)
        rows.append("| " + " | ".join(cells) + " |")
    if november:
        rows.append(
            f"\nThis machine now runs the November code's `/chat` turn {_span(slow_lo, slow_hi, 'x')} "
            "slower than on 2026-11-21 (its CPU per turn now over then)."
        )
    rows.append(
        f"\nThe bare function's cold start in the same minutes: {ours['cold_bare']:.0f} ms"
        " (150 ms on 2026-11-21)."
    )
    per_round = ", ".join(f"{b:.2f} / {o:.2f}" for b, o in zip(runs["base"], runs["ours"], strict=True))
    rows.append(f"\nCPU per turn at c=32 in each round, `{ref}` / this code: {per_round} ms")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ref", default=NOVEMBER_REF, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--c1", type=int, default=200, help="requests per round, stateless c=1")
    parser.add_argument("--stream", type=int, default=60, help="streamed requests per round and endpoint")
    parser.add_argument("--c32", type=int, default=1000, help="/chat turns per round at c=32")
    parser.add_argument("--cold", type=int, default=5, help="cold starts per side")
    parser.add_argument("--out", type=Path, default=Path("bench/baseline.json"))
    args = parser.parse_args(argv)
    tree = export(args.ref)
    sides = [Side(args.ref, tree, legacy_fields(tree)), Side("this", ROOT, [])]
    register: list[Service] = []
    ticks, load_at_start = cpu_ticks(), loadavg()
    infra: Infra | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            infra = start_infra(Path(tmp) / "secrets.json", register)
            asyncio.run(measure(infra, sides, args))
        finally:
            if infra is not None:
                infra.stop()
            for svc in reversed(register):
                svc.stop()
    steal = steal_share(ticks, cpu_ticks())
    base, ours = figures(sides[0]), figures(sides[1])
    runs = {
        "base": [x * 1000 for x in sides[0].samples["cpu_c32"]],
        "ours": [x * 1000 for x in sides[1].samples["cpu_c32"]],
    }
    table = report(args.ref, base, ours, runs)
    date = time.strftime("%Y-%m-%d")
    print(f"\n`{args.ref}` and this code, {args.rounds} interleaved rounds ({date}, CPU steal {steal:.0%})\n")
    print(table)
    machine = {"date": date, "load_at_start": load_at_start, "cpu_steal": round(steal, 3)}
    out = {
        "ref": args.ref,
        "base": base,
        "this": ours,
        "cpu_rounds": runs,
        "machine": machine,
        "table": table,
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
