"""`make dev`: the whole service on one local port, with embedded defaults.

Starts the Firestore and Cloud Storage emulators, the local secrets backend,
a mock LLM server for every provider whose key is not in the environment,
seeds the demo tenant (tenants/demo/config.yaml), mints a client key and
prints copy-paste commands, then serves every function under
functions-framework, printing one line per request, until Ctrl-C.

Stopping cannot leave anything behind: SIGINT/SIGTERM/SIGHUP handlers only
record the signal (they never raise), so no signal can cut the cleanup; a
signal during start-up ends the current wait (`services.Aborted`). Every child
runs under `services.spawn`'s supervisor, which takes its whole process group
down even when this process is SIGKILLed. A run records its marker in a state
file per port, so the next `make dev` names an earlier run's leftovers (or
whatever holds the port) in one line instead of starting beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from devlog import RequestLog
from tests.support import procs
from tests.support.services import (
    Aborted,
    Service,
    abort_waits,
    run_marker,
    start_aimock,
    start_firestore,
    start_functions,
    start_sandbox,
    start_storage,
    stop_all,
)

ROOT = Path(__file__).resolve().parent
CURL_HELP = """\
  export KEY={key}
  THREAD=$(curl -s -X POST {base}/start -H "Authorization: Bearer $KEY" \\
      -d '{"assistant": "support"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["thread_id"])')
  curl -s -X POST {base}/chat -H "Authorization: Bearer $KEY" \\
      -d '{"thread_id": "'$THREAD'", "message": "Where is my order A-1001?"}'
  curl -N -X POST {base}/chat -H "Authorization: Bearer $KEY" \\
      -d '{"thread_id": "'$THREAD'", "message": "And returns?", "stream": true}'
  curl -s -X POST {base}/chat/app/shop/sales -H "Authorization: Bearer $KEY" \\
      -d '{"message": "Recommend a backpack"}'"""
KEY_ENV = {"openai": "OPENAI_API_KEY", "cohere": "COHERE_API_KEY", "gemini": "GEMINI_API_KEY"}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STATE_DIR = Path(tempfile.gettempdir()) / "gcp-assistants-dev"
T = TypeVar("T")


def _say(line: str = "") -> None:
    """Print a line; never raises (after a hangup the terminal is gone, and cleanup must go on)."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


async def _seed(env: dict[str, str], mock_url: str | None) -> str:
    os.environ.update(env)
    from common.config.bundle import parse_bundle
    from common.provision import provision
    from common.settings import get_settings

    # gcloud's emulator (a cold JVM) can take longer than a request's Firestore deadline
    # to answer its first calls on a busy machine: seeding waits longer. The functions
    # process, started after, keeps the deployed deadline.
    if "FIRESTORE_DEADLINE_S" not in os.environ:
        os.environ["FIRESTORE_DEADLINE_S"] = "60"
        get_settings.cache_clear()
        get_settings()  # cached for this process
        del os.environ["FIRESTORE_DEADLINE_S"]

    bundle = parse_bundle((ROOT / "tenants" / "demo" / "config.yaml").read_text())
    secrets: dict[str, str] = {}
    providers = []
    for provider in bundle.providers:
        key = os.environ.get(KEY_ENV.get(provider.kind, ""), "")
        if not key and mock_url:
            base = mock_url + "/v1" if provider.kind in ("openai", "openai_compatible") else mock_url
            provider = provider.model_copy(update={"base_url": base})
            key = "mock-key-" + provider.kind
        providers.append(provider)
        for cred in bundle.credentials:
            if cred.provider_id == provider.id:
                secrets[cred.id] = key
    bundle = bundle.model_copy(update={"providers": providers})
    keys = await provision(bundle, to="gcs", secrets=secrets, client_key_apps=["shop"])
    return keys["shop"]


def _admin_help(base: str, username: str, password: str) -> str:
    """How to log in to the admin API; the password is this run's (or BOOTSTRAP_ADMIN_PASSWORD)."""
    login = json.dumps({"username": username, "password": password})
    lines = [
        f"Admin panel: {base}/admin/ui/  (log in as below)",
        f"Admin API: {base}/admin  (OpenAPI: {base}/admin/openapi.json)",
        f"  platform admin '{username}', password for this run: {password}",
        f"  TOKEN=$(curl -s -X POST {base}/admin/auth/login -H 'Content-Type: application/json' \\",
        f"      -d '{login}' | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -s {base}/admin/assistants -H "Authorization: Bearer $TOKEN" -H "X-Tenant-Id: demo"',
    ]
    if len(password) < 12:
        lines.append("  (BOOTSTRAP_ADMIN_PASSWORD is under 12 characters: no admin was created)")
    return "\n".join(lines)


def _leftovers(port: int, state_file: Path) -> str | None:
    """One line naming what an earlier run left (or what else holds the port), else None."""
    earlier: set[int] = set()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        earlier = procs.marked(str(json.loads(state_file.read_text())["marker"])) - {os.getpid()}
    holders = procs.listeners(port) - earlier
    if earlier:
        pids = " ".join(map(str, sorted(earlier | holders)))
        return (
            f"An earlier make dev on port {port} is still running or left processes behind "
            f"(PIDs {pids}); not starting beside them. Stop them with: kill {pids}"
        )
    if holders:
        pids = " ".join(map(str, sorted(holders)))
        return f"Port {port} is already in use by PID(s) {pids}; stop it or run PORT=<other port> make dev."
    return None


async def _abortable(received: list[int], coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro`, cancelled as soon as a stop signal was received."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        if received:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise Aborted(f"stopped by signal {received[0]}")
        await asyncio.wait({task}, timeout=0.1)
    return task.result()


def _serve(port: int, started: list[Service], received: list[int]) -> int:
    """Start the stack (each service into `started` as soon as it runs), then serve until told to stop."""
    missing = [p for p, var in KEY_ENV.items() if not os.environ.get(var)]
    firestore = start_firestore()
    started.append(firestore)
    storage = start_storage()
    started.append(storage)
    mock_url = None
    if missing:
        mock = start_aimock(ROOT / "dev" / "aimock-demo.json")
        started.append(mock)
        # As `localhost`, allow-listed below: provider base_urls pass the webhook address guard.
        mock_url = f"http://localhost:{mock.port}"
        names = ", ".join(KEY_ENV[p] for p in missing)
        _say(f"No {names} in the environment: those providers use the local mock LLM at {mock_url}.")
    env = {
        "GOOGLE_CLOUD_PROJECT": os.environ.get("GOOGLE_CLOUD_PROJECT", "local-dev"),
        "CONFIG_BUCKET": os.environ.get("CONFIG_BUCKET", "local-config"),
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "STORAGE_EMULATOR_HOST": storage.url,
        "SECRETS_BACKEND": "local",
        "ALLOWED_PRIVATE_HOSTS": os.environ.get("ALLOWED_PRIVATE_HOSTS") or "localhost",
        "LOCAL_SECRETS_FILE": os.environ.get("LOCAL_SECRETS_FILE", str(STATE_DIR / "secrets.json")),
        # The first platform admin (the emulator starts empty each run); no default password.
        "BOOTSTRAP_ADMIN_USERNAME": os.environ.get("BOOTSTRAP_ADMIN_USERNAME") or "admin",
        "BOOTSTRAP_ADMIN_PASSWORD": os.environ.get("BOOTSTRAP_ADMIN_PASSWORD") or secrets.token_urlsafe(18),
    }
    # Code providers: the sandbox runs as its own process, its environment built from nothing.
    sandbox_secret = secrets.token_urlsafe(24)
    sandbox = start_sandbox({"SANDBOX_SECRET": sandbox_secret})
    started.append(sandbox)
    env.update(SANDBOX_URL=sandbox.url, SANDBOX_SECRET=sandbox_secret, ALLOW_CODE_PROVIDERS="1")
    client_key = asyncio.run(_abortable(received, _seed(env, mock_url)))
    functions = start_functions(env, port=port)
    started.append(functions)
    base = f"http://127.0.0.1:{port}"
    _say()
    _say(f"Assistant service running on {base}  (functions: /start /chat /health)")
    _say("Demo tenant 'demo', app 'shop': assistants 'support' (Gemini) and 'sales' (Cohere).")
    _say(f"Client key (shown once): {client_key}")
    _say()
    _say(CURL_HELP.replace("{base}", base).replace("{key}", client_key))
    _say(f"  curl -s {base}/health")
    _say()
    _say(_admin_help(base, env["BOOTSTRAP_ADMIN_USERNAME"], env["BOOTSTRAP_ADMIN_PASSWORD"]))
    _say(f"Code providers on (sandbox at {sandbox.url}): see README 'Code providers'.")
    _say()
    _say(f"One line per request below (full logs: {functions.log_path}).")
    _say("Ctrl-C stops everything.")
    requests = RequestLog(functions.log_path, sys.stdout, terminal=sys.stdout.isatty())
    parent = os.getppid()
    try:
        while not received:
            requests.poll()
            if functions.proc.poll() is not None:
                _say("The functions process exited:\n" + functions.log())
                return 1
            if os.getppid() != parent:  # make (or the terminal) went away: clean up, don't orphan
                return 0
            time.sleep(0.2)
        return 0
    finally:
        requests.flush()


def main() -> int:
    # First, before anything is started: stop signals only take note. Nothing raises
    # asynchronously, so the cleanup below runs to its end whatever arrives, and as often.
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        abort_waits(signum)

    for sig in STOP_SIGNALS:
        if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
            continue  # under nohup: a closed terminal is not a request to stop
        signal.signal(sig, on_signal)
    port = int(os.environ.get("PORT", "8080"))
    STATE_DIR.mkdir(exist_ok=True)
    state_file = STATE_DIR / f"run-{port}.json"
    leftovers = _leftovers(port, state_file)
    if leftovers:
        _say(leftovers)
        return 1
    marker = run_marker()
    state_file.write_text(json.dumps({"marker": marker, "pid": os.getpid()}))
    started: list[Service] = []
    code = 1
    try:
        code = _serve(port, started, received)
    except Aborted:
        code = 0
    except Exception as exc:  # a service that did not come up, a broken terminal: say why
        _say(f"make dev could not start: {exc}" if not received else f"make dev: {exc}")
    finally:  # no signal handler raises, so nothing can cut this short
        if received:
            _say("Stopping...")
        try:
            stop_all(started)
        except Exception as exc:
            _say(f"could not stop everything: {exc}")
        if not procs.marked(marker) - {os.getpid()}:
            state_file.unlink(missing_ok=True)
        # Python restores the default actions when it shuts down: a late signal would then
        # kill this process (with nothing left to stop) and turn the exit status into its own.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
