"""Where the service's time goes, from its own structured JSON log.

The router logs one access line per request (`latency_ms`: handler time inside the
function) and the chat turn logs `upstream_ms` (from the first upstream call to the
reply being committed to Firestore). Both carry the `X-Request-Id` the bench sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.load import percentiles


def read(log_path: Path, tag: str) -> dict[str, dict[str, float]]:
    """request_id -> {latency_ms, upstream_ms} for requests whose id starts with `bench-{tag}-`."""
    prefix = f"bench-{tag}-"
    out: dict[str, dict[str, float]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        rid = str(entry.get("request_id", ""))
        if not rid.startswith(prefix):
            continue
        row = out.setdefault(rid, {})
        for key in ("latency_ms", "upstream_ms"):
            if key in entry:
                row[key] = float(entry[key])
    return {k: v for k, v in out.items() if "latency_ms" in v}


def breakdown(
    log_path: Path, tag: str, client_ms: dict[str, float], direct_ms: dict[str, float]
) -> dict[str, Any]:
    """p50s of each phase of a non-streamed `/chat`, measured inside and outside the function."""
    rows = {k: v for k, v in read(log_path, tag).items() if "upstream_ms" in v}
    if not rows:
        return {}
    handler = percentiles([r["latency_ms"] for r in rows.values()])
    upstream = percentiles([r["upstream_ms"] for r in rows.values()])
    before = percentiles([r["latency_ms"] - r["upstream_ms"] for r in rows.values()])
    return {
        "requests": len(rows),
        "client_total_p50_ms": client_ms["p50"],
        "direct_to_mock_p50_ms": direct_ms["p50"],
        "handler_p50_ms": handler["p50"],
        "before_upstream_p50_ms": before["p50"],
        "upstream_and_commit_p50_ms": upstream["p50"],
        "upstream_and_commit_minus_direct_p50_ms": round(upstream["p50"] - direct_ms["p50"], 3),
        "outside_handler_p50_ms": round(client_ms["p50"] - handler["p50"], 3),
    }


def stream_breakdown(
    log_path: Path, tag: str, first_ms: dict[str, float], direct_first_ms: dict[str, float]
) -> dict[str, Any]:
    """For SSE the handler returns when the turn is prepared (auth, thread, history, user message
    stored), just before the upstream call: its `latency_ms` is the service's own share of the
    time to first delta; the rest is the provider SDK, the event queue, SSE framing and loopback."""
    rows = read(log_path, tag)
    if not rows:
        return {}
    prepare = percentiles([r["latency_ms"] for r in rows.values()])
    return {
        "requests": len(rows),
        "client_first_delta_p50_ms": first_ms["p50"],
        "direct_first_delta_p50_ms": direct_first_ms["p50"],
        "prepare_p50_ms": prepare["p50"],
        "prepare_p95_ms": prepare["p95"],
        "rest_of_overhead_p50_ms": round(first_ms["p50"] - direct_first_ms["p50"] - prepare["p50"], 3),
    }
