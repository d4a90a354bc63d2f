"""A built bundle serves `/health` from its own folder, in a fresh virtualenv holding
only its requirements.txt, started the way the gen2 runtime starts it.

The Python buildpack runs the bare `functions-framework` command with
FUNCTION_TARGET set; deploy adds FUNCTION_USE_ASGI=true (the `--asgi` flag's
environment variable), so this is the deployed configuration minus Google.
The venv is cached under the temp dir, keyed by the requirements' hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.bundle import build_bundle
from tests.support.services import Service, free_port, spawn, wait_http

ROOT = Path(__file__).resolve().parents[2]
TENANT = "smoke"

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fresh_venv(requirements: Path) -> Path:
    """A virtualenv with exactly `requirements`, reused while they are unchanged.

    Built in place under a lock (venvs cannot be moved: their scripts hold
    absolute paths); `.complete` marks a finished install, so an interrupted
    one is rebuilt rather than trusted.
    """
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = Path(tempfile.gettempdir()) / f"gcp-assistants-bundle-venv-{key}"
    with _locked(venv.with_suffix(".lock")):
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "--require-hashes",  # the bundle's requirements.txt is the hashed lock
                    "-r",
                    str(requirements),
                ],
                check=True,
            )
            (venv / ".complete").touch()
    return venv


def _create_bucket(storage: Service, bucket: str) -> None:
    body = json.dumps({"name": bucket}).encode()
    request = urllib.request.Request(
        f"{storage.url}/storage/v1/b?project=test-project",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # already there from an earlier run in this session
            raise


def _serve(bundle: Path, venv: Path, env: dict[str, str], log_path: Path, name: str) -> Service:
    """The bare `functions-framework` command, as the buildpack runs it, from the bundle folder
    (spawned like every test service, with only `env` in its environment)."""
    cmd = [str(venv / "bin" / "functions-framework")]
    return spawn(name, cmd, int(env["PORT"]), env, inherit_env=False, cwd=bundle, log_path=log_path)


@pytest.fixture()
def sample_root(tmp_path: Path) -> Path:
    """The real runtime plus one sample tenant, so the real tenants are not needed."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("main.py", "requirements.txt", "requirements.lock"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("common", "functions"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    tenant_dir = root / "tenants" / TENANT
    tenant_dir.mkdir(parents=True)
    (tenant_dir / "config.yaml").write_text(f"tenant:\n  id: {TENANT}\n  name: Smoke\n")
    return root


def test_bundle_serves_health_in_a_fresh_venv(
    sample_root: Path, tmp_path: Path, firestore_emulator: Service, storage_emulator: Service
) -> None:
    bundle = build_bundle(sample_root, TENANT)
    venv = fresh_venv(bundle / "requirements.txt")
    bucket = "smoke-config"
    _create_bucket(storage_emulator, bucket)
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text('{"secrets": {}}')
    secrets_file.chmod(0o600)
    port = free_port()
    env = {
        # A clean environment: nothing from the test venv or the repo leaks in.
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FUNCTION_TARGET": "health",
        "FUNCTION_SIGNATURE_TYPE": "http",
        "FUNCTION_USE_ASGI": "true",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TENANT_ID": TENANT,
        "GOOGLE_CLOUD_PROJECT": "test-project",
        "CONFIG_BUCKET": bucket,
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "STORAGE_EMULATOR_HOST": storage_emulator.url,
        "SECRETS_BACKEND": "local",
        "LOCAL_SECRETS_FILE": str(secrets_file),
    }
    service = _serve(bundle, venv, env, tmp_path / "functions-framework.log", "bundle-health")
    try:
        wait_http(service, "/health", timeout=90)
        with urllib.request.urlopen(f"{service.url}/health", timeout=10) as resp:
            status, body = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"/health answered {exc.code}: {exc.read()[:2000]!r}\n{service.log()}")
    finally:
        service.stop()
    assert status == 200, body
    assert body["status"] == "ok"
    assert {"firestore", "storage", "secrets"} <= set(body["checks"])


async def test_bundle_serves_chat_in_a_fresh_venv(sample_root: Path, tmp_path: Path, stack) -> None:
    """The chat function from the bundle alone: a real turn, with the provider SDK imported
    from the bundle's own requirements, against the emulators and aimock."""
    from common.config.models import Bundle
    from common.provision import provision
    from tests.e2e.conftest import PROVIDERS, demo_bundle

    bundle_dir = build_bundle(sample_root, TENANT)
    venv = fresh_venv(bundle_dir / "requirements.txt")
    keys = await provision(
        Bundle.model_validate(demo_bundle(TENANT, stack.aimock.url)),
        to="firestore",
        secrets={f"c-{p}": f"sk-{p}-smoke" for p in PROVIDERS},
        client_key_apps=["shop"],
    )
    marker = f"smoke-turn-{uuid.uuid4().hex}"  # unique: aimock matches user messages by substring
    stack.aimock.add({"match": {"userMessage": marker}, "response": {"content": "served from the bundle"}})
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FUNCTION_TARGET": "chat",
        "FUNCTION_SIGNATURE_TYPE": "http",
        "FUNCTION_USE_ASGI": "true",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TENANT_ID": TENANT,
        **{k: v for k, v in stack.env.items() if k != "TENANTS_DIR"},
    }
    service = _serve(bundle_dir, venv, env, tmp_path / "functions-framework-chat.log", "bundle-chat")
    try:
        wait_http(service, "/", timeout=90)
        request = urllib.request.Request(
            f"{service.url}/app/shop/support-openai",  # deployed form: the function URL replaces /chat
            data=json.dumps({"message": marker}).encode(),
            headers={"Authorization": f"Bearer {keys['shop']}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, body = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"/chat answered {exc.code}: {exc.read()[:2000]!r}\n{service.log()}")
    finally:
        service.stop()
    assert status == 200, body
    assert body["responses"] == ["served from the bundle"] and body["provider"] == "openai"
