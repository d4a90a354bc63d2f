"""Find local processes by what they are, never by name: an environment marker, a
listening port, a start time (Linux /proc).

`services.spawn` puts `MARKER_VAR=<run marker>` in every child's environment; the
variable is inherited by grandchildren (gcloud's java), so one scan of
/proc/*/environ finds everything a run started, wherever it was reparented.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MARKER_VAR = "GCP_ASSISTANTS_RUN"
PROC = Path("/proc")


def _pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has finished, only not been reaped)."""
    return {pid for pid in pids if (fields := _stat(pid)) is not None and fields[0] not in ("Z", "X")}


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when `pid` started: with the pid, identifies a process (pids are reused)."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def marked(marker: str) -> set[int]:
    """Live processes whose environment has MARKER_VAR=marker (unreadable ones are skipped)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = set()
    for pid in _pids():
        try:
            env = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.add(pid)
    return alive(found)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(inode)
    return inodes


def listeners(port: int) -> set[int]:
    """Processes holding a listening TCP socket on `port` (any address)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return set()
    found = set()
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in os.scandir(PROC / str(pid) / "fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in inodes:
                        found.add(pid)
                        break
    return found
