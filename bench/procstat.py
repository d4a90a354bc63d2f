"""CPU time of a process group from /proc (no psutil): utime+stime of every live member,
plus what its members already collected from reaped children."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _fields(stat: str) -> list[str]:
    # `comm` is in parentheses and may hold spaces: split after the last ')'.
    return stat[stat.rindex(")") + 2 :].split()


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime+cutime+cstime summed over the process group `pgid` and every descendant
    of its leader.

    Each service runs under a supervisor that leads its own group (tests/support/supervise.py);
    the group holds the service and anything it spawns, except descendants that start a
    group of their own (gcloud's emulator runs java that way), which the parent links find.
    """
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = _fields((entry / "stat").read_text())
        except (OSError, ValueError):
            continue  # exited while we looked
    total = 0
    for pid, fields in stats.items():
        # After comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
        member, cur, hops = int(fields[2]) == pgid, pid, 0
        while not member and cur in stats and hops < 64:
            cur, hops = int(stats[cur][1]), hops + 1
            member = cur == pgid
        if member:
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / _TICKS


def process_cpu_seconds(pid: int) -> float:
    """utime+stime+cutime+cstime of one process (0 if it has exited)."""
    try:
        fields = _fields(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError):
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICKS


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_fields((entry / "stat").read_text())[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return sorted(pids)


def system_busy_seconds() -> float:
    """CPU time every process and the kernel spent busy since boot (all cores, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def cpu_ticks() -> list[int]:
    """The machine's CPU time counters (`/proc/stat`: user ... steal), for `steal_share`."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def steal_share(before: list[int], after: list[int]) -> float:
    """Of the time between two `cpu_ticks`, the share the hypervisor gave to other guests:
    on a shared VM it is what makes one run of a benchmark slower than the next."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta)
    return delta[7] / total if total else 0.0


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def rss_kb(pid: int) -> int:
    """Resident set size of one process (VmRSS), in KiB; 0 if it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size (pages shared with other processes counted by share), KiB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_rss_mb(pgid: int, skip: int | None = None) -> dict[str, float]:
    """RSS of each member of a process group (MiB, keyed `pid cmd`), their `total`, and
    `pss_total`: what they hold together, with pages shared after gunicorn's fork counted once
    (closest to the memory a container is billed for; `total` counts shared pages twice).

    `skip` leaves out one pid: the test harness's supervisor, which is not part of a
    deployed instance.
    """
    out: dict[str, float] = {}
    pss = 0
    for pid in group_pids(pgid):
        if pid == skip:
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = " ".join(a.decode(errors="replace").rsplit("/", 1)[-1] for a in argv[:3] if a)
        out[f"{pid} {name}"] = round(rss_kb(pid) / 1024, 1)
        pss += pss_kb(pid)
    out["total"] = round(sum(out.values()), 1)
    out["pss_total"] = round(pss / 1024, 1)
    return out
