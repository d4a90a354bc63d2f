"""Plain-text tables for the terminal; results.json holds the same numbers and more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = [f"== {title} =="]
    lines.append(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    for row in cells:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines) + "\n"


def diff(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """a - b at each percentile (a difference of percentiles, not a percentile of differences)."""
    return {k: round(a[k] - b[k], 3) for k in a if k in b}


def latency_rows(label: str, direct: dict[str, Any], service: dict[str, Any]) -> list[list[Any]]:
    d, s = direct["latency_ms"], service["latency_ms"]
    o = diff(s, d)
    return [
        [f"{label} direct", direct["n"], direct["errors"], d["p50"], d["p95"], d["p99"], direct["rps"]],
        [f"{label} service", service["n"], service["errors"], s["p50"], s["p95"], s["p99"], service["rps"]],
        [f"{label} overhead", "", "", o["p50"], o["p95"], o["p99"], ""],
    ]


def check(name: str, value: float | bool | None, limit: str, ok: bool | None) -> list[Any]:
    return [name, value, limit, "PASS" if ok else ("-" if ok is None else "MISS")]


def noise_warning(res: dict[str, Any]) -> str:
    """Other processes on the machine distort every number here; say so when they were busy."""
    meta, r = res["meta"], res["runs"]
    other = max((v.get("cpu_ms_per_request", {}).get("other", 0.0) for v in r.values()), default=0.0)
    line = f"machine: {meta['cpus']} cores, load average at start {meta['loadavg_at_start']}"
    line += f", busiest run saw {other:.2f} ms/request of CPU outside the bench's processes"
    steal = float(meta.get("cpu_steal", 0.0))
    line += f", CPU steal {steal:.0%} (the hypervisor's share for other guests)"
    if other > 1.0 or meta["loadavg_at_start"][0] > 1.0 or steal > 0.05:
        line += "\nWARNING: the machine was not idle; latencies and req/s are pessimistic. Rerun when idle."
    return line + "\n"


def render(res: dict[str, Any]) -> str:
    r = res["runs"]
    out = [
        noise_warning(res),
        table(
            "Non-streamed latency, ms (direct = aimock's OpenAI endpoint; service = POST /chat)",
            ["run", "n", "err", "p50", "p95", "p99", "req/s"],
            latency_rows("c=1 ", r["c1_direct"], r["c1_service"])
            + latency_rows("c=32", r["c32_direct"], r["c32_service"]),
        ),
    ]
    sd, ss = r["stream_direct"], r["stream_service"]
    fo, to = diff(ss["first_delta_ms"], sd["first_delta_ms"]), diff(ss["latency_ms"], sd["latency_ms"])
    out.append(
        table(
            "Streamed, c=1: time to first text delta and to the end of the stream, ms",
            ["run", "n", "err", "first p50", "first p95", "end p50", "end p95"],
            [
                [
                    "direct",
                    sd["n"],
                    sd["errors"],
                    *(sd["first_delta_ms"][k] for k in ("p50", "p95")),
                    *(sd["latency_ms"][k] for k in ("p50", "p95")),
                ],
                [
                    "service",
                    ss["n"],
                    ss["errors"],
                    *(ss["first_delta_ms"][k] for k in ("p50", "p95")),
                    *(ss["latency_ms"][k] for k in ("p50", "p95")),
                ],
                ["overhead", "", "", fo["p50"], fo["p95"], to["p50"], to["p95"]],
            ],
        )
    )
    cpu_rows = []
    groups = ("functions", "aimock", "firestore", "loadgen", "other")
    for name, label in (
        ("c1_direct", "c=1  direct"),
        ("c1_service", "c=1  service"),
        ("c32_direct", "c=32 direct"),
        ("c32_service", "c=32 service wire"),
        ("c32_service_sdk", "c=32 service SDK"),
        ("c32_service_wire2", "c=32 service wire again"),
    ):
        cpu = r[name]["cpu_ms_per_request"]
        cpu_rows.append([label, r[name]["rps"], *(cpu.get(g) for g in groups)])
    out.append(
        table(
            "Throughput and CPU ms per request by process group (2 cores shared by all;"
            " other = rest of the machine)",
            ["run", "req/s", *groups],
            cpu_rows,
        )
    )
    out.append(
        table(
            "Provider HTTP client (PROVIDER_HTTP_CLIENT), service c=32 non-streamed, in run order",
            ["client", "n", "err", "p50", "p95", "p99", "req/s", "cpu ms/req"],
            [
                [
                    label,
                    r[k]["n"],
                    r[k]["errors"],
                    *(r[k]["latency_ms"][p] for p in ("p50", "p95", "p99")),
                    r[k]["rps"],
                    r[k]["cpu_ms_per_request"]["functions"],
                ]
                for label, k in (
                    ("wire (default)", "c32_service"),
                    ("openai SDK (aiohttp)", "c32_service_sdk"),
                    ("wire again", "c32_service_wire2"),
                )
            ],
        )
    )
    cold = res["cold_start"]
    out.append(
        table(
            f"Cold start: spawn -> first 200, ms (median of {len(cold['bare /health']['runs_ms'])})",
            ["target", "median", "min", "max", "vs bare", "CPU ms"],
            [
                [
                    k,
                    v["median_ms"],
                    v["min_ms"],
                    v["max_ms"],
                    f"{v['median_ms'] / cold['bare /health']['median_ms']:.2f}x",
                    v.get("cpu_median_ms"),
                ]
                for k, v in cold.items()
            ],
        )
    )
    rss = res.get("rss_mb")
    if rss:
        skip = ("total", "pss_total", "turns")
        procs = ", ".join(f"{k.split()[0]}: {v}" for k, v in rss.items() if k not in skip)
        out.append(
            f"RSS of the warm instance after {int(rss['turns'])} turns: {rss['total']} MiB"
            f" (per process {procs}; PSS, shared pages once: {rss['pss_total']} MiB)\n"
        )
    imp = res["health_imports"]
    sdks = ("YES " + ", ".join(imp["provider_sdk_modules"])) if imp["imports_provider_sdk"] else "no"
    out.append(
        table(
            f"`import main; main.health`: {imp['modules_imported']} modules, {imp['total_ms']} ms self total;"
            f" provider SDK imported: {sdks}",
            ["module (top 10 cumulative)", "cumulative ms", "self ms"],
            [[m["module"], m["cumulative_ms"], m["self_ms"]] for m in imp["top10_cumulative"]],
        )
    )
    rows = []
    for key in ("c1", "c32"):
        b = res[f"breakdown_{key}"]
        if b:
            rows.append(
                [
                    key,
                    b["client_total_p50_ms"],
                    b["direct_to_mock_p50_ms"],
                    b["handler_p50_ms"],
                    b["before_upstream_p50_ms"],
                    b["upstream_and_commit_p50_ms"],
                    b["outside_handler_p50_ms"],
                ]
            )
    out.append(
        table(
            "Where a non-streamed /chat spends its time, p50 ms (from the service's access log)",
            ["conc", "client", "direct", "handler", "pre-upstream", "upstream+commit", "outside handler"],
            rows,
        )
    )
    b = res.get("breakdown_stream") or {}
    if b:
        out.append(
            table(
                "Streamed: the service's own share of time to first delta, p50 ms (from its access log)",
                [
                    "stream",
                    "client first",
                    "direct first",
                    "prepare (log)",
                    "prepare p95",
                    "rest of overhead",
                ],
                [
                    [
                        "c=1",
                        b["client_first_delta_p50_ms"],
                        b["direct_first_delta_p50_ms"],
                        b["prepare_p50_ms"],
                        b["prepare_p95_ms"],
                        b["rest_of_overhead_p50_ms"],
                    ]
                ],
            )
        )
    out.append(
        table(
            "Firestore emulator round trips from Python (the store calls one turn makes), c=1, ms",
            ["call", "p50", "p95"],
            [[k, v["p50"], v["p95"]] for k, v in res["firestore_probe_ms"].items()],
        )
    )
    t = res["targets"]
    out.append(table("Targets", ["target", "measured", "limit", "result"], t))
    return "\n".join(out)


def targets(res: dict[str, Any]) -> list[list[Any]]:
    r = res["runs"]
    c1 = diff(r["c1_service"]["latency_ms"], r["c1_direct"]["latency_ms"])["p50"]
    ttfd = diff(r["stream_service"]["first_delta_ms"], r["stream_direct"]["first_delta_ms"])["p50"]
    cpu = r["c32_service"]["cpu_ms_per_request"]["functions"]
    cold = res["cold_start"]
    ratio = round(cold["health /health"]["median_ms"] / cold["bare /health"]["median_ms"], 2)
    sdk = res["health_imports"]["imports_provider_sdk"]
    chat_cold = cold["chat POST /chat"]["median_ms"]
    rss = res["rss_mb"]["total"] if res.get("rss_mb") else None
    turns = int(res["rss_mb"]["turns"]) if res.get("rss_mb") else 0
    return [
        check("/chat overhead p50 at c=1 (ms)", c1, "<= 10", c1 <= 10),
        check("first-delta overhead p50 (ms)", ttfd, "<= 5", ttfd <= 5),
        check("CPU per non-streamed /chat (ms)", cpu, "<= 4", cpu <= 4),
        check("cold start health / bare", ratio, "<= 1.3x", ratio <= 1.3),
        check("cold start to first POST /chat 200 (ms)", chat_cold, "<= 600", chat_cold <= 600),
        check(f"RSS after {turns} turns (MiB)", rss, "<= 150", None if rss is None else rss <= 150),
        check("health imports a provider SDK", sdk, "no", not sdk),
    ]
