"""Start and stop the real local services the tests (and `make dev`) talk to.

Each service listens on 127.0.0.1 on a free port, runs in its own process
group and is stopped by PID (the group's leader), so nothing outlives a run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # The leader is gone; children (gcloud's java) may linger in its group.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(
                    self.proc.pid, signal.SIGTERM if time.monotonic() < deadline - 5 else signal.SIGKILL
                )
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def _spawn(
    name: str, cmd: list[str], port: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Service:
    log_dir = Path(tempfile.gettempdir()) / "gcp-assistants-logs"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / f"{name}-{port}.log"
    full_env = {**os.environ, **(env or {})}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd or ROOT, start_new_session=True
        )
    return Service(name=name, proc=proc, port=port, log_path=log_path, env=env or {})


def wait_http(
    service: Service, path: str = "/", timeout: float = 60.0, ok_status: tuple[int, ...] = ()
) -> None:
    """Wait until the service answers HTTP on `path` (any status unless ok_status is given).

    On any failure the service is stopped before the error propagates: nothing leaks.
    """
    try:
        _wait_http(service, path, timeout, ok_status)
    except BaseException:
        service.stop()
        raise


def _wait_http(service: Service, path: str, timeout: float, ok_status: tuple[int, ...]) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited early:\n{service.log()}")
        try:
            with urllib.request.urlopen(service.url + path, timeout=2) as resp:
                if not ok_status or resp.status in ok_status:
                    return
        except urllib.error.HTTPError as exc:
            if not ok_status or exc.code in ok_status:
                return
            last = exc
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{service.name} did not answer on {path}: {last}\n{service.log()}")


def wait_tcp(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            service.stop()
            raise RuntimeError(f"{service.name} exited early:\n{service.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", service.port), timeout=1):
            return
        time.sleep(0.1)
    service.stop()
    raise TimeoutError(f"{service.name} did not listen on {service.port}\n{service.log()}")


def firestore_impl() -> str:
    """`gcloud` when gcloud is installed (the reference implementation), else `node` (npm's)."""
    if shutil.which("gcloud") and os.environ.get("FIRESTORE_EMULATOR_IMPL", "gcloud") == "gcloud":
        return "gcloud"
    return "node"


def start_firestore() -> Service:
    """gcloud's emulator when installed, else the npm one (`firestore_impl`)."""
    port = free_port()
    if firestore_impl() == "gcloud":
        cmd = ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"]
    else:
        cmd = ["node", str(ROOT / "tests" / "support" / "firestore_emulator.mjs"), str(port)]
    svc = _spawn("firestore", cmd, port)
    if cmd[0] == "node":
        wait_tcp(svc, timeout=60)  # the npm emulator speaks only gRPC (HTTP/2)
    else:
        wait_http(svc, "/", timeout=90)
    return svc


def start_storage() -> Service:
    port = free_port()
    cmd = [
        str(VENV_BIN / "gcp-storage-emulator"),
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "-q",
    ]
    svc = _spawn("storage", cmd, port)
    wait_http(svc, "/", timeout=60)
    return svc


def start_aimock(fixtures: Path | None = None, extra: list[str] | None = None) -> Service:
    port = free_port()
    fixtures = fixtures or ROOT / "tests" / "fixtures" / "aimock"
    cmd = [
        str(NODE_BIN / "llmock"),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-f",
        str(fixtures),
        "--log-level",
        "warn",
    ]
    svc = _spawn("aimock", cmd + (extra or []), port)
    wait_http(svc, "/__aimock/health", timeout=60)
    return svc


def start_functions(env: dict[str, str], target: str = "dev", port: int | None = None) -> Service:
    """Run the functions under functions-framework (ASGI) exactly as deployed."""
    port = port or free_port()
    cmd = [
        str(VENV_BIN / "functions-framework"),
        "--target",
        target,
        "--source",
        str(ROOT / "main.py"),
        "--asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    svc = _spawn(f"functions-{target}", cmd, port, env={**env, "PORT": str(port)})
    wait_http(svc, "/health" if target in ("dev", "health") else "/", timeout=60)
    return svc


class Aimock:
    """Client of aimock's HTTP control API (fixtures, one-shot errors, journal)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def add(self, *fixtures: dict[str, Any]) -> None:
        self._call("POST", "/__aimock/fixtures", {"fixtures": list(fixtures)})

    def next_error(self, status: int, message: str = "injected", type_: str = "server_error") -> None:
        self._call("POST", "/__aimock/error", {"status": status, "body": {"message": message, "type": type_}})

    def journal(self, path: str | None = None) -> list[dict[str, Any]]:
        query = f"?path={urllib.parse.quote(path)}" if path else ""
        return list(self._call("GET", f"/__aimock/journal{query}"))

    def clear_journal(self) -> None:
        self._call("POST", "/__aimock/reset/journal", {})


@contextlib.contextmanager
def running(*services: Service) -> Iterator[None]:
    try:
        yield
    finally:
        for svc in services:
            svc.stop()
