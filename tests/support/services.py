"""Start and stop the real local services the tests (and `make dev`) talk to.

Each service listens on 127.0.0.1 on a free port and is started by `spawn`: in
a session of its own under a small supervisor (tests/support/supervise.py) that
leads its process group and takes the whole group down when it is stopped, when
the command exits, or when the process that spawned it dies, even by SIGKILL.
Every process carries the run's marker in its environment (`procs.MARKER_VAR`),
so a test can find what a run left without trusting names or parent links.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
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

from tests.support.procs import MARKER_VAR

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"
VENV_BIN = Path(sys.executable).parent
SUPERVISE = Path(__file__).with_name("supervise.py")
LOG_DIR = Path(tempfile.gettempdir()) / "gcp-assistants-logs"
STOP_TIMEOUT_S = 15.0  # the supervisor escalates to SIGKILL after its own 5 s grace
_MARKER = os.environ.get(MARKER_VAR) or f"run-{os.getpid()}-{secrets.token_hex(4)}"
_abort: list[int] = []


class Aborted(Exception):
    """A stop was requested (`abort_waits`) while waiting for a service to come up."""


def abort_waits(signum: int) -> None:
    """Make every wait for a service raise `Aborted` (safe in a signal handler: no locks)."""
    _abort.append(signum)


def _check_abort() -> None:
    if _abort:
        raise Aborted(f"stopped by signal {_abort[0]}")


def run_marker() -> str:
    """This process's run marker: inherited from MARKER_VAR when set, else new per process."""
    return _MARKER


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

    def send(self, sig: int) -> None:
        """Send `sig` to the command itself (proc.pid is its supervisor, which reserves SIGUSR2)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        if not children:
            raise ProcessLookupError(f"{self.name} is not running")
        os.kill(int(children[0]), sig)

    def terminate(self) -> None:
        """Ask the supervisor to stop its group (it sends SIGTERM once); `stop` waits for it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Stop the group and wait until it is gone (the supervisor exits last)."""
        self.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        if self.proc.returncode < 0:  # the supervisor itself was killed: sweep its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def stop_all(services: list[Service]) -> None:
    """Stop services in parallel (all are asked first), the last started first.

    A failure to stop one does not keep the others running; the first is raised at the end.
    """
    for svc in reversed(services):
        svc.terminate()
    errors: list[Exception] = []
    for svc in reversed(services):
        try:
            svc.stop()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def spawn(
    name: str,
    cmd: list[str],
    port: int,
    env: dict[str, str] | None = None,
    *,
    inherit_env: bool = True,
    cwd: Path | None = None,
    log_path: Path | None = None,
    marker: str | None = None,
) -> Service:
    """Start `cmd` (output to `log_path`) so that nothing of it can outlive this process.

    The environment is os.environ plus `env` (only `env` with inherit_env=False),
    plus MARKER_VAR=marker (default: `run_marker()`). Spawn from the main thread
    or a thread that lives as long as the service (the supervisor ignores a
    spawning thread's exit, but only a process's death stops it).
    """
    if log_path is None:
        LOG_DIR.mkdir(exist_ok=True)
        log_path = LOG_DIR / f"{name}-{port}.log"
    full_env = {**(os.environ if inherit_env else {}), **(env or {}), MARKER_VAR: marker or _MARKER}
    supervised = [sys.executable, "-I", "-S", str(SUPERVISE), str(os.getpid()), *cmd]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            supervised,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd or ROOT,
            start_new_session=True,
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
        _check_abort()
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited early:\n{service.log()}")
        try:
            with urllib.request.urlopen(service.url + path, timeout=1) as resp:
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
    """Wait until the service accepts TCP connections; on any failure it is stopped first."""
    try:
        _wait_tcp(service, timeout)
    except BaseException:
        service.stop()
        raise


def _wait_tcp(service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_abort()
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited early:\n{service.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", service.port), timeout=1):
            return
        time.sleep(0.1)
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
    svc = spawn("firestore", cmd, port)
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
    svc = spawn("storage", cmd, port)
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
    svc = spawn("aimock", cmd + (extra or []), port)
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
    svc = spawn(f"functions-{target}", cmd, port, env={**env, "PORT": str(port)})
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
        stop_all(list(services))


def start_sandbox(env: dict[str, str], port: int | None = None) -> Service:
    """The `sandbox` function as its own process, its environment built from nothing.

    Only `SANDBOX_*` settings (the shared secret, limits), `PORT` and `PATH` reach it:
    no emulator host, `GOOGLE_*`, secrets-file path or provider key.
    """
    port = port or free_port()
    cmd = [
        str(VENV_BIN / "functions-framework"),
        "--target",
        "sandbox",
        "--source",
        str(ROOT / "main.py"),
        "--asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    clean = {"PATH": "/usr/bin:/bin", **{k: v for k, v in env.items() if k.startswith("SANDBOX_")}}
    svc = spawn("sandbox", cmd, port, env={**clean, "PORT": str(port)}, inherit_env=False)
    wait_http(svc, "/", timeout=60, ok_status=(200,))  # GET / also starts its warm children
    return svc
