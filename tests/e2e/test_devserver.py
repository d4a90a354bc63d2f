"""`make dev` as a newcomer runs it: no provider keys, chat at once, one line per request,
Ctrl-C (however often) leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.support import procs
from tests.support.services import ROOT, free_port


def test_make_dev_chats_without_keys_and_stops_everything_it_started(tmp_path):
    port = free_port()
    # What a newcomer's shell has: none of the variables this test session set for itself.
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "FIRESTORE_EMULATOR_IMPL", "CI")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    marker = f"test-devserver-{os.getpid()}-{port}"  # every process of this run carries it
    env.update(PORT=str(port), LOCAL_SECRETS_FILE=str(tmp_path / "secrets.json"))
    env[procs.MARKER_VAR] = marker
    log = tmp_path / "dev.log"
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
            request_id = reply.headers["X-Request-Id"]

        # stdout is not a terminal: one JSON line per request, the chat's with its tokens
        deadline = time.monotonic() + 30
        while request_id not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
        chat = next(x for x in lines if x["request_id"] == request_id)
        assert (chat["method"], chat["path"], chat["status"]) == ("POST", "/chat", 200)
        assert (chat["tenant"], chat["app"], chat["assistant"]) == ("demo", "shop", "support")
        assert chat["ms"] > 0 and chat["input_tokens"] >= 0 and chat["output_tokens"] >= 0
        assert any(x["path"] == "/start" and x["status"] == 201 for x in lines)

        # the devserver, and firestore, storage, aimock and functions each with its supervisor
        assert len(procs.marked(marker)) >= 9
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # as make forwards one more: cleanup must still finish
        # and an impatient user's storm of every kind while it cleans up
        kinds = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for i in range(60):
            if proc.poll() is not None:
                break
            proc.send_signal(kinds[i % 3])
            time.sleep(0.01)
        assert proc.wait(timeout=60) == 0
        assert "Stopping..." in log.read_text()
        deadline = time.monotonic() + 30
        while procs.marked(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not procs.marked(marker), f"left running: {procs.marked(marker)}\n{log.read_text()[-2000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in procs.marked(marker):
            os.kill(pid, signal.SIGKILL)
