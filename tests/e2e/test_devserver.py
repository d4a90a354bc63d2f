"""`make dev` as a newcomer runs it: no provider keys, chat at once, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.services import ROOT, free_port


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (the emulators run in sessions of their own)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has finished, only not been reaped)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def test_make_dev_chats_without_keys_and_stops_everything_it_started(tmp_path):
    port = free_port()
    # What a newcomer's shell has: none of the variables this test session set for itself.
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "FIRESTORE_EMULATOR_IMPL", "CI")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(PORT=str(port), LOCAL_SECRETS_FILE=str(tmp_path / "secrets.json"))
    log = tmp_path / "dev.log"
    started: set[int] = set()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devserver"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        assert "local mock LLM" in text  # it says, in one line, that it uses the mock
        key = re.search(r"Client key \(shown once\): (ak_\S+)", text)
        assert key, text
        auth = {"Authorization": f"Bearer {key.group(1)}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            thread = client.post("/start", json={"assistant": "support"}, headers=auth)
            assert thread.status_code == 201, thread.text
            body = {"thread_id": thread.json()["thread_id"], "message": "Where is my order A-1001?"}
            reply = client.post("/chat", json=body, headers=auth)
            assert reply.status_code == 200, reply.text
            assert "A-1001" in reply.json()["responses"][0]

        started = _descendants(proc.pid)
        assert len(started) >= 4  # firestore, storage, aimock, functions
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # as make forwards one more: cleanup must still finish
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(started), f"left running: {_alive(started)}\n{log.read_text()[-2000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _alive(started | _descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)
