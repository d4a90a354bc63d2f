"""Run one command as a process group that cannot outlive the process that started it.

`python -I -S supervise.py PARENT_PID CMD...` (started by `services.spawn` in a
session of its own, so this process leads the group). Why a process and not only
`PR_SET_PDEATHSIG` on the command: the parent-death signal reaches only the
direct child, so gcloud's Firestore emulator (gcloud -> bash -> java) would leave
its JVM running when the dev server is SIGKILLed. This supervisor:

- gets SIGUSR2 when its parent dies (PR_SET_PDEATHSIG); the signal also comes when
  only the spawning *thread* exits, so it acts only once `getppid()` changed;
- is a child subreaper, so descendants that lose their parent become its
  children (even ones that left the group with setsid) and none is missed;
- on SIGTERM/SIGINT/SIGHUP, its parent's death, or the command's own exit, sends
  SIGTERM to the group and to every descendant, SIGKILL after GRACE_S, and exits
  only once it has no descendant left (with the command's exit status);
- gives the command PR_SET_PDEATHSIG=SIGKILL too, for the case where the
  supervisor itself is SIGKILLed alone.

Stdlib only and signals only synchronously (blocked, then sigtimedwait), so no
handler can interrupt its cleanup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from typing import NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PARENT_DIED = signal.SIGUSR2
STOP = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
WATCHED = {*STOP, PARENT_DIED, signal.SIGCHLD}
GRACE_S = 5.0


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl failed")


def _descendants(root: int) -> set[int]:
    """Every process below `root`, by parent links in /proc (covers ones that left the group)."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                parents[int(name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _signal_all(sig: int) -> None:
    """`sig` to the group and to descendants that left it (each process gets it once:
    a second SIGTERM makes some servers skip their graceful shutdown)."""
    me = os.getpid()
    if sig != signal.SIGKILL:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(me, sig)  # atomically, the whole group (this process has it blocked)
    for pid in _descendants(me):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sig == signal.SIGKILL or os.getpgid(pid) != me:
                os.kill(pid, sig)


def _exec_child(cmd: list[str], supervisor: int) -> NoReturn:
    """In the forked child: default signals, die with the supervisor, become `cmd`."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        for sig in (*STOP, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(1)
        os.execvp(cmd[0], cmd)  # noqa: S606 (argv from spawn, no shell)
    except BaseException as exc:
        os.write(2, f"supervise: cannot run {cmd[0]}: {exc}\n".encode())
    os._exit(127)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    parent, cmd = int(argv[1]), argv[2:]
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, PARENT_DIED)
    if os.getppid() != parent:  # died before we could watch it
        return 1
    me = os.getpid()
    child = os.fork()
    if child == 0:
        _exec_child(cmd, me)
    code = 0
    stop_at: float | None = None
    terminated = False
    while True:
        info = signal.sigtimedwait(WATCHED, 0.05 if stop_at else 1.0)
        if stop_at is None and ((info is not None and info.si_signo in STOP) or os.getppid() != parent):
            stop_at = time.monotonic()
        while True:  # reap whatever finished; orphaned descendants are ours too
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return code  # no descendant left
            if pid == 0:
                break
            if pid == child:
                code = _exit_code(status)
                stop_at = stop_at or time.monotonic()
        if stop_at is None:
            continue
        if time.monotonic() - stop_at >= GRACE_S:
            _signal_all(signal.SIGKILL)  # every round: also what forked meanwhile
        elif not terminated:
            _signal_all(signal.SIGTERM)
            terminated = True


if __name__ == "__main__":
    sys.exit(main(sys.argv))
