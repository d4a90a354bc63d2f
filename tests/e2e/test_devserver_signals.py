"""Nothing `make dev` (or a test service) starts outlives it, whatever signals arrive and when.

Processes of a run are found by the environment marker `services.spawn` gives
every child (`procs.marked`), never by name or parent links.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devserver import STATE_DIR
from tests.support import procs
from tests.support.services import ROOT, free_port

READY = "Ctrl-C stops everything"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Spawns through services.spawn, prints the supervisor's pid, then waits to be killed.
SPAWNER = """
import sys, threading, time
from tests.support.services import spawn
cmd = ["sh", "-c", "sleep 300 & setsid sleep 301 & exec sleep 302"]
svc = spawn("spawned", cmd, 0, marker=sys.argv[1])
if sys.argv[2] == "thread":  # a second service spawned by a thread that then exits
    t = threading.Thread(target=spawn, args=("threaded", ["sleep", "303"], 0), kwargs={"marker": sys.argv[1]})
    t.start(); t.join()
print(svc.proc.pid, flush=True)
time.sleep(600)
"""


def _dev_env(tmp_path: Path, port: int, marker: str, impl: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "CI")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        PORT=str(port),
        LOCAL_SECRETS_FILE=str(tmp_path / "secrets.json"),
        FIRESTORE_EMULATOR_IMPL=impl,
        **{procs.MARKER_VAR: marker},
    )
    return env


def _gone(marker: str, timeout: float) -> set[int]:
    """Wait until no process carries `marker`; returns those still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while (left := procs.marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill_marked(marker: str) -> None:
    for pid in procs.marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["main", "thread"])
def test_a_spawned_group_dies_with_its_spawner_even_by_sigkill(how: str) -> None:
    marker = f"test-spawn-{how}-{os.getpid()}-{random.randrange(1 << 30)}"
    spawner = subprocess.Popen(
        [sys.executable, "-c", SPAWNER, marker, how], cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert spawner.stdout is not None
        supervisor = int(spawner.stdout.readline())
        deadline = time.monotonic() + 20
        want = 4 + (2 if how == "thread" else 0)  # supervisor + 3 sleeps (one in a session of its own)
        while len(procs.marked(marker)) < want and time.monotonic() < deadline:
            time.sleep(0.05)
        started = procs.marked(marker)
        assert len(started) == want, started
        assert supervisor in started
        if how == "thread":  # the spawning thread's exit is not its parent's death
            time.sleep(0.5)
            assert procs.marked(marker) == started
        spawner.kill()
        spawner.wait(timeout=10)
        assert not _gone(marker, timeout=15)
    finally:
        if spawner.poll() is None:
            spawner.kill()
        _kill_marked(marker)


def test_leftovers_of_an_earlier_run_are_named_instead_of_started_beside(tmp_path: Path) -> None:
    port = free_port()
    marker = f"test-leftover-{os.getpid()}-{port}"
    holder = "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', %d)); s.listen(); time.sleep(600)"
    STATE_DIR.mkdir(exist_ok=True)
    state = STATE_DIR / f"run-{port}.json"
    # What a dev server killed without cleanup would leave: its state file and a marked process.
    leftover = subprocess.Popen(
        [sys.executable, "-c", holder % port], env={**os.environ, procs.MARKER_VAR: marker}
    )
    stranger = None
    try:
        state.write_text(json.dumps({"marker": marker, "pid": 1}))
        deadline = time.monotonic() + 10
        while leftover.pid not in procs.listeners(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        dev_marker = marker + "-next"
        run = subprocess.run(
            [sys.executable, "-m", "devserver"],
            cwd=ROOT,
            env=_dev_env(tmp_path, port, dev_marker, "node"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 1
        lines = run.stdout.strip().splitlines()
        assert len(lines) == 1, run.stdout + run.stderr
        assert f"PIDs {leftover.pid}" in lines[0] and "earlier make dev" in lines[0]
        assert not procs.marked(dev_marker)  # it started nothing
        assert leftover.poll() is None  # and killed nothing

        # Something else on the port (no earlier run): named too.
        leftover.kill()
        leftover.wait()
        stranger = subprocess.Popen([sys.executable, "-c", holder % port])
        while stranger.pid not in procs.listeners(port) and time.monotonic() < deadline + 10:
            time.sleep(0.05)
        run = subprocess.run(
            [sys.executable, "-m", "devserver"],
            cwd=ROOT,
            env=_dev_env(tmp_path, port, dev_marker, "node"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 1
        assert run.stdout.strip() == (
            f"Port {port} is already in use by PID(s) {stranger.pid}; "
            "stop it or run PORT=<other port> make dev."
        )
    finally:
        for p in (leftover, stranger):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        state.unlink(missing_ok=True)


def test_sigkill_of_the_dev_server_leaves_nothing_behind(tmp_path: Path) -> None:
    """With gcloud's emulator when installed: its JVM is a grandchild (gcloud -> bash -> java)."""
    impl = "gcloud" if shutil.which("gcloud") else "node"
    port = free_port()
    marker = f"test-sigkill-{os.getpid()}-{port}"
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devserver"],
            cwd=ROOT,
            env=_dev_env(tmp_path, port, marker, impl),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # Firestore, storage and aimock run (gcloud's JVM under its bash under gcloud); the
        # dev server is seeding the demo tenant: killed without any chance to clean up.
        assert _wait_for(log, "local mock LLM", proc, timeout=180), log.read_text()
        started = procs.marked(marker)
        names = {Path(f"/proc/{pid}/exe").resolve().name for pid in started}
        if impl == "gcloud":
            assert "java" in names, names  # the test is about the grandchild: it must be there
        proc.kill()
        proc.wait(timeout=10)
        left = _gone(marker, timeout=30)
        assert not left, f"left running: {left}"
        # The next run starts normally on the same port (the leftovers check finds nothing).
        assert not procs.listeners(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_marked(marker)


def test_stress_random_signal_bursts_at_random_moments_leave_nothing(tmp_path: Path) -> None:
    """20 runs: start, a random delay (before, during or after start-up), 1-3 random signals
    at random intervals (some land in the cleanup), then nothing of the run may be left.

    Reaching "ready" is the expensive part, so 4 runs get there (the first measures how
    long start-up takes); 9 are signalled at a random moment of start-up and 7 early.
    """
    seed = int(os.environ.get("STRESS_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    phases = ["starting"] * 9 + ["early"] * 7 + ["ready"] * 3
    rng.shuffle(phases)
    startup = 5.0  # measured by the first run
    began = time.monotonic()
    for cycle, phase in enumerate(["ready", *phases]):
        port = free_port()
        marker = f"test-stress-{os.getpid()}-{cycle}-{port}"
        burst = [rng.choice(STOP_SIGNALS) for _ in range(rng.randint(1, 3))]
        gaps = [rng.uniform(0, 0.4) for _ in burst]
        delay = {"early": rng.uniform(0, 0.6), "starting": rng.uniform(0.6, startup), "ready": 0}[phase]
        what = f"STRESS_SEED={seed} cycle {cycle}: {phase} {delay:.2f} s, {[s.name for s in burst]}"
        log = tmp_path / f"dev-{cycle}.log"
        t0 = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "devserver"],
                cwd=ROOT,
                env=_dev_env(tmp_path, port, marker, "node"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            if phase == "ready":
                assert _wait_for(log, READY, proc, timeout=120), f"{what}\n{log.read_text()}"
                if cycle == 0:
                    startup = time.monotonic() - t0
                time.sleep(rng.uniform(0, 0.5))
            else:
                time.sleep(delay)
            for sig, gap in zip(burst, gaps, strict=True):
                if proc.poll() is not None:
                    break
                proc.send_signal(sig)
                time.sleep(gap)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"did not stop within 60 s; {what}\n{log.read_text()[-3000:]}")
            left = _gone(marker, timeout=20)
            assert not left, f"left running: {left}; {what}\n{log.read_text()[-3000:]}"
        finally:
            if proc.poll() is None:
                proc.kill()
            _kill_marked(marker)
            (STATE_DIR / f"run-{port}.json").unlink(missing_ok=True)
    assert time.monotonic() - began < 300, f"20 runs took {time.monotonic() - began:.0f} s"
