"""Dependency probes for `/health`, over the services' REST APIs with the stdlib.

Why not the client libraries: `health` is what Cloud Scheduler and uptime
checks hit, often on a cold instance, and importing google-cloud-firestore
and google-cloud-storage costs ~350 ms before the first answer. A probe only
needs one authenticated GET: a document read (missing is fine), the config
bucket (or, per tenant, the tenant's bundle object: the tenant's service
account may not read bucket metadata), and the platform's public JWT key
(every health and admin identity may read it; missing is fine: Secret
Manager answered, and listing would need project-wide rights).
`common.probes.conformance` is the deep check of providers.

Each probe raises `ProbeFailed` naming the HTTP status; response bodies are
never echoed (they may quote URLs or names).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from common.settings import get_settings

PUBLIC_KEY_SECRET = "platform__jwt__public-key"  # noqa: S105 - a secret id (infra/iam.py grants it)
_METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default"
_token: tuple[str, float] | None = None


class ProbeFailed(Exception):
    pass


def _access_token() -> str:
    """On Cloud Functions, from the metadata server; elsewhere, Application Default Credentials."""
    global _token
    if _token and _token[1] - time.time() > 60:
        return _token[0]
    try:
        req = urllib.request.Request(_METADATA + "/token", headers={"Metadata-Flavor": "Google"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 - fixed metadata URL
            data = json.loads(resp.read())
        _token = (data["access_token"], time.time() + float(data.get("expires_in", 300)))
    except OSError:
        import google.auth
        import google.auth.transport.requests

        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        creds.refresh(google.auth.transport.requests.Request())
        _token = (str(creds.token), time.time() + 300)
    return _token[0]


def _get(url: str, token: str | None, ok: tuple[int, ...], timeout: float) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - fixed http(s) endpoints
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - our own endpoints
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        raise ProbeFailed(type(exc).__name__) from None
    if status not in ok:
        raise ProbeFailed(f"HTTP {status}")
    return status


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([number << 3 | 2]) + _varint(len(data)) + data


def _firestore_emulator(host: str, database: str, document: str, timeout: float) -> None:
    """Emulators: one raw gRPC BatchGetDocuments, the call the client's `get()` makes (gcloud's
    and the npm emulator both serve it; only gcloud's speaks REST). The request is two string
    fields, encoded by hand so the probe needs `grpc` but not the Firestore client."""
    import grpc

    request = _field(1, database) + _field(2, document)
    with grpc.insecure_channel(host) as channel:
        call = channel.unary_stream("/google.firestore.v1.Firestore/BatchGetDocuments")
        try:
            for _ in call(request, timeout=timeout, metadata=(("authorization", "Bearer owner"),)):
                pass  # found or missing: either proves the database answers
        except grpc.RpcError as exc:
            raise ProbeFailed(str(exc.code())) from None


def _firestore(timeout: float) -> None:
    database = f"projects/{get_settings().project}/databases/(default)"
    document = f"{database}/documents/_health/ping"
    emulator = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if emulator:
        _firestore_emulator(emulator, database, document, timeout)
    else:
        _get(f"https://firestore.googleapis.com/v1/{document}", _access_token(), (200, 404), timeout)


def _storage(timeout: float) -> None:
    settings = get_settings()
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    base = emulator.rstrip("/") if emulator else "https://storage.googleapis.com"
    token = None if emulator else _access_token()
    bucket = urllib.parse.quote(settings.config_bucket, safe="")
    if settings.tenant_id:
        name = urllib.parse.quote(f"tenants/{settings.tenant_id}/config.yaml", safe="")
        _get(f"{base}/storage/v1/b/{bucket}/o/{name}", token, (200, 404), timeout)
    else:
        _get(f"{base}/storage/v1/b/{bucket}", token, (200,), timeout)


def _secret_manager(timeout: float) -> None:
    settings = get_settings()
    base = f"https://secretmanager.googleapis.com/v1/projects/{settings.project}"
    _get(f"{base}/secrets/{PUBLIC_KEY_SECRET}/versions/latest:access", _access_token(), (200, 404), timeout)


async def firestore(deadline_s: float) -> None:
    await asyncio.to_thread(_firestore, deadline_s)


async def storage(deadline_s: float) -> None:
    await asyncio.to_thread(_storage, deadline_s)


async def secrets(deadline_s: float) -> None:
    if get_settings().secrets_backend == "local":
        from common.secrets.local import LocalFileBackend

        await LocalFileBackend().ping()
    else:
        await asyncio.to_thread(_secret_manager, deadline_s)
