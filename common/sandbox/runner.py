"""Run one call of operator code in a fresh child process, with limits, and stream its events.

Each call gets its own process (`common/sandbox/child.py`), used once and
killed after: never shared between calls, providers or tenants. To keep the
interpreter's start-up off the first token, a few children are started ahead
(`SANDBOX_WARM`); a warm child has imported only the HTTP clients (and made one
HTTP round trip to itself) and holds nothing until a call is written to its stdin.

Priming: all but one of the warm children are started with the source of the
most recent call's code, which they compile (never run) while they wait;
compiling a template costs 2-5 ms, a fifth of the budget for the first token.
A primed child is only ever handed a call of exactly that code (matched by
SHA-256 here, and by the source itself in the child), so a call never shares a
process with another provider's code; the unprimed child serves any other code.
A prime carries the code text only (no key, request or config), so a child
primed after one tenant's call holds nothing of that tenant when another
tenant's identical code (an unchanged template) gets it.
Warm children are refilled after a call ends, not when it starts: starting an
interpreter takes ~100 ms of CPU that would otherwise compete with the call.

Limits (all settings of the sandbox process, see `Limits.from_env`): CPU
seconds, address space, open files, processes and file size are rlimits the
child sets on itself before running the code (hard limits too); the
wall-clock limit and the output cap (stdout events + stderr prints) are
enforced here, and a child over either is killed with its whole process group.

When the sandbox runs as root (locally, in containers), each child runs as its
own unprivileged uid from a small pool (`SANDBOX_UID_BASE` + slot): root is
exempt from RLIMIT_NPROC, and distinct uids keep two concurrent calls from
signalling each other or reading each other's /proc (the key arrives on
stdin). After a call, every process left with that uid (a grandchild that
escaped the group with setsid) is killed before the uid is reused. When the
sandbox is not root, children keep its uid; they still cannot read each
other's memory or stdin (they mark themselves non-dumpable).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.logging import get_logger, log
from common.providers.base import redact
from common.sandbox.protocol import error

CHILD = str(Path(__file__).with_name("child.py"))
_log = get_logger("sandbox")
_TERMINAL = frozenset({"finish", "error", "ok"})


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 10  # SANDBOX_CPU_S
    memory_mb: int = 1024  # SANDBOX_MEMORY_MB (address space)
    max_files: int = 64  # SANDBOX_MAX_FILES
    max_procs: int = 32  # SANDBOX_MAX_PROCS (threads count too)
    max_file_bytes: int = 10 * 1024 * 1024  # SANDBOX_MAX_FILE_BYTES
    wall_s: float = 120.0  # SANDBOX_WALL_S
    output_bytes: int = 4 * 1024 * 1024  # SANDBOX_OUTPUT_BYTES (events + prints)

    @classmethod
    def from_env(cls) -> Limits:
        d = cls()
        return cls(
            cpu_s=_env_int("SANDBOX_CPU_S", d.cpu_s),
            memory_mb=_env_int("SANDBOX_MEMORY_MB", d.memory_mb),
            max_files=_env_int("SANDBOX_MAX_FILES", d.max_files),
            max_procs=_env_int("SANDBOX_MAX_PROCS", d.max_procs),
            max_file_bytes=_env_int("SANDBOX_MAX_FILE_BYTES", d.max_file_bytes),
            wall_s=_env_float("SANDBOX_WALL_S", d.wall_s),
            output_bytes=_env_int("SANDBOX_OUTPUT_BYTES", d.output_bytes),
        )

    def child_arg(self, shared_uid_slots: int = 0) -> str:
        """The rlimits a child sets on itself. RLIMIT_NPROC counts every process and thread
        of the uid: a child sharing the sandbox's uid (not root) gets room for the sandbox's
        own threads and its siblings, so the fork-bomb bound is per sandbox, not per call."""
        keys = ("cpu_s", "memory_mb", "max_files", "max_procs", "max_file_bytes")
        out = {k: v for k, v in asdict(self).items() if k in keys}
        if shared_uid_slots:
            out["max_procs"] = self.max_procs * (shared_uid_slots + 1) + 64
        return json.dumps(out)


def as_uid(uid: int | None) -> list[str]:
    """The command prefix that runs a program as `uid` with no way back to privilege.

    `setpriv` (util-linux) rather than Popen's `user=`: it also sets no_new_privs
    (a setuid binary cannot hand root back) and empties the capability sets.
    """
    if uid is None:
        return []
    setpriv = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if setpriv is None:
        raise RuntimeError("the sandbox runs as root but setpriv (util-linux) is missing; refusing to run")
    return [
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--no-new-privs",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--",
    ]


@dataclass
class _Child:
    proc: asyncio.subprocess.Process
    uid: int | None
    slot: int
    primed: str | None = None  # SHA-256 of the code it compiled while warm


@functools.lru_cache(maxsize=8)
def code_hash(code: str) -> str:
    """SHA-256 of a call's code. Cached: one call asks for it when it takes a child, refills
    the pool and primes a child, always with the same str object (a hit costs no hashing).
    Eight entries keep at most 8 x MAX_CALL_BYTES of code alive, usually a few templates."""
    return hashlib.sha256(code.encode()).hexdigest()


class Runner:
    """Owns the warm children and the uid slots of one sandbox process."""

    def __init__(
        self, limits: Limits, *, warm: int = 2, concurrency: int = 16, uid_base: int = 200_000
    ) -> None:
        self.limits = limits
        self.warm = warm
        self.as_root = os.geteuid() == 0
        self.uid_base = uid_base
        self._active = asyncio.Semaphore(concurrency)
        self._slots = concurrency + warm
        self._free_slots = list(range(self._slots))
        self._ready: list[_Child] = []
        self._filling: dict[asyncio.Task[None], str | None] = {}  # task -> primed hash

    @classmethod
    def from_env(cls) -> Runner:
        return cls(
            Limits.from_env(),
            warm=_env_int("SANDBOX_WARM", 2),
            concurrency=_env_int("SANDBOX_CONCURRENCY", 16),
            uid_base=_env_int("SANDBOX_UID_BASE", 200_000),
        )

    async def _spawn(self, prime: str | None = None) -> _Child:
        slot = self._free_slots.pop(0)
        uid = self.uid_base + slot if self.as_root else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *as_uid(uid),
                sys.executable,
                "-I",
                CHILD,
                self.limits.child_arg(0 if self.as_root else self._slots),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},
                cwd="/",
                start_new_session=True,
                limit=self.limits.output_bytes + 1024,
            )
        except BaseException:
            self._free_slots.append(slot)
            raise
        child = _Child(proc, uid, slot)
        if prime is not None:
            assert proc.stdin
            proc.stdin.write(json.dumps({"prime": prime}).encode() + b"\n")
            child.primed = code_hash(prime)
        return child

    def prewarm(self) -> None:
        """Start the warm children now (idempotent)."""
        self._refill()

    def _refill(self, code: str | None = None) -> None:
        """Top the warm pool up to `warm` children: one unprimed (any code), and the others
        primed with the codes of the latest calls. A full pool gives up its oldest primed
        child of other code (or a spare unprimed one) for the latest call's code.
        So `warm` - 1 providers calling in turn each find their own primed child."""
        loop = asyncio.get_running_loop()
        hashes = [c.primed for c in self._ready] + list(self._filling.values())
        wanted = code_hash(code) if code is not None else None

        def start(prime: str | None) -> None:
            if not self._free_slots:
                return
            task = loop.create_task(self._add_warm(prime))
            self._filling[task] = code_hash(prime) if prime is not None else None
            task.add_done_callback(lambda t: self._filling.pop(t, None))
            hashes.append(self._filling[task])

        if self.warm >= 1 and None not in hashes:
            start(None)
        if wanted is not None and self.warm >= 2 and wanted not in hashes:
            if len(hashes) >= self.warm:
                spare = hashes.count(None) > 1  # an unprimed child beyond the one kept
                stale = next((c for c in self._ready if c.primed is not None or spare), None)
                if stale is None:
                    return  # all still starting: the next call's refill sees to it
                self._ready.remove(stale)
                hashes.remove(stale.primed)
                task = loop.create_task(self._retire(stale))
                self._filling[task] = stale.primed  # holds its place until the slot is free
                task.add_done_callback(lambda t: self._filling.pop(t, None))
                task.add_done_callback(lambda t: self._refill(code))
                return
            start(code)
        while len(hashes) < self.warm and self._free_slots:
            start(code if None in hashes else None)

    async def _add_warm(self, prime: str | None) -> None:
        try:
            self._ready.append(await self._spawn(prime))
        except Exception:
            _log.exception("could not start a warm sandbox child")

    async def _take(self, code: str) -> _Child:
        """A warm child primed with this code, else an unprimed one, else a new one.
        A warm child primed with other code is never handed this call."""
        wanted = code_hash(code)
        for child in [c for c in self._ready if c.proc.returncode is not None]:
            self._ready.remove(child)
            await self._retire(child)
        for match in (wanted, None):
            for child in self._ready:
                if child.primed == match:
                    self._ready.remove(child)
                    return child
        if self._ready and not self._free_slots:  # every slot warm for other code: free one
            await self._retire(self._ready.pop(0))
        return await self._spawn()

    async def _retire(self, child: _Child) -> None:
        """Kill the child's group and, as root, every process left with its uid; free the slot."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(child.proc.wait(), 5)
        if child.uid is not None:
            # kill(-1) as that uid reaches every process of that uid (and nothing else).
            with contextlib.suppress(Exception):
                sweeper = await asyncio.create_subprocess_exec(
                    *as_uid(child.uid),
                    "kill",
                    "-9",
                    "-1",
                    env={"PATH": "/usr/bin:/bin"},
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                await asyncio.wait_for(sweeper.wait(), 5)
        self._free_slots.append(child.slot)

    async def aclose(self) -> None:
        for task in list(self._filling):
            task.cancel()
        ready, self._ready = self._ready, []
        for child in ready:
            await self._retire(child)

    async def run(self, call: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Yield the call's events; always ends with `finish`, `ok` or `error`."""
        key = call.get("key") or None
        async with self._active:
            code = str(call.get("code") or "")
            child = await self._take(code)
            started = time.monotonic()
            try:
                async for event in self._events(child, call, started):
                    if event.get("type") == "error":
                        event["message"] = redact(str(event.get("message", "")), key)[:2000]
                    yield event
                    if event.get("type") in _TERMINAL:
                        return
            finally:
                await asyncio.shield(self._retire(child))
                self._refill(code if call.get("action") == "stream" else None)
                log(_log, logging.INFO, "sandbox call", ms=round((time.monotonic() - started) * 1000, 1))

    async def _events(
        self, child: _Child, call: dict[str, Any], started: float
    ) -> AsyncIterator[dict[str, Any]]:
        proc = child.proc
        assert proc.stdin and proc.stdout and proc.stderr
        limits = self.limits
        try:
            proc.stdin.write(json.dumps(call).encode() + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        budget = {"left": limits.output_bytes}
        over = asyncio.Event()

        async def drain_stderr() -> None:
            assert proc.stderr
            while chunk := await proc.stderr.read(65536):
                budget["left"] -= len(chunk)
                if budget["left"] < 0:
                    over.set()
                    return

        stderr_task = asyncio.get_running_loop().create_task(drain_stderr())
        over_task = asyncio.get_running_loop().create_task(over.wait())
        try:
            while True:
                remaining = limits.wall_s - (time.monotonic() - started)
                if remaining <= 0:
                    yield error(
                        "timeout", f"the code ran past the sandbox's wall-clock limit ({limits.wall_s:g} s)"
                    )
                    return
                read = asyncio.get_running_loop().create_task(proc.stdout.readline())
                done, _ = await asyncio.wait(
                    {read, over_task}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if read not in done:
                    read.cancel()
                    with contextlib.suppress(BaseException):
                        await read
                    if over.is_set():
                        yield self._over_output()
                        return
                    continue  # the wall clock ran out: reported at the top of the loop
                try:
                    line = read.result()
                except (ValueError, asyncio.LimitOverrunError):
                    yield self._over_output()
                    return
                budget["left"] -= len(line)
                if budget["left"] < 0 or over.is_set():
                    yield self._over_output()
                    return
                if not line:
                    yield await self._exit_error(proc)
                    return
                try:
                    event = json.loads(line)
                except ValueError:
                    yield error(
                        "protocol", "the code wrote something that is not an event to the event stream"
                    )
                    return
                if isinstance(event, dict):
                    yield event
        finally:
            for task in (stderr_task, over_task):
                task.cancel()

    def _over_output(self) -> dict[str, Any]:
        return error(
            "output_limit", f"the code's output passed the sandbox's cap ({self.limits.output_bytes} bytes)"
        )

    async def _exit_error(self, proc: asyncio.subprocess.Process) -> dict[str, Any]:
        try:
            code = await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            return error("protocol", "the code closed the event stream without finishing")
        if code == -signal.SIGXCPU or code == -signal.SIGKILL:
            return error(
                "cpu_limit", f"the code used more than the sandbox's CPU limit ({self.limits.cpu_s} s)"
            )
        if code is not None and code < 0:
            return error("crashed", f"the code's process died of signal {signal.Signals(-code).name}")
        return error("crashed", f"the code's process exited (status {code}) without finishing")
