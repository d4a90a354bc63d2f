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
    """utime+stime+cutime+cstime summed over every process whose process group is `pgid`.

    The functions server runs under gunicorn (a master and a uvicorn worker) in its own
    session, so the group holds the master, the worker and anything they spawn.
    """
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _fields((entry / "stat").read_text())
        except (OSError, ValueError):
            continue  # exited while we looked
        # After comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
        if int(fields[2]) != pgid:
            continue
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / _TICKS


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


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
