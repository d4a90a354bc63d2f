"""`make dev`: the whole service on one local port, with embedded defaults.

Starts the Firestore and Cloud Storage emulators, the local secrets backend,
a mock LLM server for every provider whose key is not in the environment,
seeds the demo tenant (tenants/demo/config.yaml), mints a client key and
prints copy-paste commands, then serves every function under
functions-framework until Ctrl-C, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.support.services import Service, start_aimock, start_firestore, start_functions, start_storage

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


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _seed(env: dict[str, str], mock_url: str | None) -> str:
    os.environ.update(env)
    from common.config.bundle import parse_bundle
    from common.provision import provision

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
        f"Admin API: {base}/admin  (OpenAPI: {base}/admin/openapi.json)",
        f"  platform admin '{username}', password for this run: {password}",
        f"  TOKEN=$(curl -s -X POST {base}/admin/auth/login -H 'Content-Type: application/json' \\",
        f"      -d '{login}' | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -s {base}/admin/assistants -H "Authorization: Bearer $TOKEN" -H "X-Tenant-Id: demo"',
    ]
    if len(password) < 12:
        lines.append("  (BOOTSTRAP_ADMIN_PASSWORD is under 12 characters: no admin was created)")
    return "\n".join(lines)


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    state = Path(tempfile.gettempdir()) / "gcp-assistants-dev"
    state.mkdir(exist_ok=True)
    started: list[Service] = []
    try:
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
            "LOCAL_SECRETS_FILE": os.environ.get("LOCAL_SECRETS_FILE", str(state / "secrets.json")),
            # The first platform admin (the emulator starts empty each run); no default password.
            "BOOTSTRAP_ADMIN_USERNAME": os.environ.get("BOOTSTRAP_ADMIN_USERNAME") or "admin",
            "BOOTSTRAP_ADMIN_PASSWORD": os.environ.get("BOOTSTRAP_ADMIN_PASSWORD")
            or secrets.token_urlsafe(18),
        }
        client_key = asyncio.run(_seed(env, mock_url))
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
        _say()
        _say("Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
        parent = os.getppid()
        while functions.proc.poll() is None:
            if os.getppid() != parent:  # make (or the terminal) went away: clean up, don't orphan
                return 0
            time.sleep(0.5)
        _say("The functions process exited:\n" + functions.log())
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second signal (make forwards one; an impatient second Ctrl-C) must not cut the
        # cleanup short and orphan an emulator.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for svc in reversed(started):
            try:
                svc.stop()
            except Exception as exc:  # keep stopping the others
                _say(f"could not stop {svc.name}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
