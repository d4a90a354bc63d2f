"""An in-process Secret Manager speaking the real gRPC protocol.

There is no Secret Manager emulator, and a mocked client would not test what
matters (request shapes, resource names, status codes, checksums), so tests
drive the real `SecretManagerServiceAsyncClient` against this server instead.

google-cloud-secret-manager ships no servicer base class (GAPIC libraries only
contain client stubs), so the methods are registered with a generic handler,
using the proto-plus message classes for (de)serialisation, exactly as the
client's own transport does. Only the methods our backend uses are served;
anything else answers UNIMPLEMENTED, like a real server that lacks the method.

Runs a sync `grpc.server` on worker threads, so it does not depend on (or
block) the event loop of the code under test.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import google_crc32c
import grpc
from google.cloud.secretmanager_v1.types import resources, service
from google.protobuf import empty_pb2

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"

_PROJECT = re.compile(r"^projects/([^/]+)$")
_SECRET = re.compile(r"^projects/([^/]+)/secrets/([^/]+)$")
_VERSION = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass
class _Version:
    data: bytes
    create_time: datetime
    state: int = resources.SecretVersion.State.ENABLED


@dataclass
class _Secret:
    name: str
    labels: dict[str, str]
    create_time: datetime
    versions: list[_Version] = field(default_factory=list)

    def proto(self) -> resources.Secret:
        return resources.Secret(
            name=self.name,
            labels=self.labels,
            create_time=self.create_time,
            replication=resources.Replication(automatic=resources.Replication.Automatic()),
        )


class FakeSecretManager:
    """Secrets in memory, per-method call counts in `calls`, on 127.0.0.1:`port`.

    `deadlines` records each call's remaining deadline (None = the client sent
    none), so tests can assert every remote call carries a timeout.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.deadlines: list[tuple[str, float | None]] = []
        self.secrets: dict[str, _Secret] = {}
        self.corrupt: set[str] = set()  # secret ids whose AccessSecretVersion returns a wrong CRC
        self.port = 0
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    # Lifecycle ---------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeSecretManager:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-sm"))
        server.add_generic_rpc_handlers((self._handler(),))
        self.port = server.add_insecure_port("127.0.0.1:0")  # the OS picks a free port: no race
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None

    def __enter__(self) -> FakeSecretManager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.deadlines.clear()
            self.secrets.clear()
            self.corrupt.clear()

    def corrupt_checksum(self, secret: str, on: bool = True) -> None:
        (self.corrupt.add if on else self.corrupt.discard)(secret)

    # RPCs ----------------------------------------------------------------------

    def create_secret(self, req: service.CreateSecretRequest, ctx: grpc.ServicerContext) -> resources.Secret:
        if not _PROJECT.match(req.parent):
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, f"invalid parent {req.parent!r}")
        if not _SECRET_ID.match(req.secret_id):
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, f"invalid secret_id {req.secret_id!r}")
        if "replication" not in req.secret:
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, "Secret.replication is required")
        name = f"{req.parent}/secrets/{req.secret_id}"
        if name in self.secrets:
            _abort(ctx, grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
        secret = _Secret(name=name, labels=dict(req.secret.labels), create_time=_now())
        self.secrets[name] = secret
        return secret.proto()

    def get_secret(self, req: service.GetSecretRequest, ctx: grpc.ServicerContext) -> resources.Secret:
        return self._secret(req.name, ctx).proto()

    def delete_secret(self, req: service.DeleteSecretRequest, ctx: grpc.ServicerContext) -> empty_pb2.Empty:
        self._secret(req.name, ctx)
        del self.secrets[req.name]
        return empty_pb2.Empty()

    def list_secrets(
        self, req: service.ListSecretsRequest, ctx: grpc.ServicerContext
    ) -> service.ListSecretsResponse:
        if not _PROJECT.match(req.parent):
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, f"invalid parent {req.parent!r}")
        names = sorted(n for n in self.secrets if n.startswith(req.parent + "/secrets/"))
        start = int(req.page_token or 0)
        size = req.page_size or 25000
        page = names[start : start + size]
        more = start + size < len(names)
        return service.ListSecretsResponse(
            secrets=[self.secrets[n].proto() for n in page],
            next_page_token=str(start + size) if more else "",
            total_size=len(names),
        )

    def add_secret_version(
        self, req: service.AddSecretVersionRequest, ctx: grpc.ServicerContext
    ) -> resources.SecretVersion:
        secret = self._secret(req.parent, ctx)
        data = req.payload.data
        if "data_crc32c" in req.payload and req.payload.data_crc32c != google_crc32c.value(data):
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, "Checksum mismatch: payload data_crc32c.")
        secret.versions.append(_Version(data=data, create_time=_now()))
        number = len(secret.versions)
        return resources.SecretVersion(
            name=f"{secret.name}/versions/{number}",
            create_time=secret.versions[-1].create_time,
            state=resources.SecretVersion.State.ENABLED,
        )

    def access_secret_version(
        self, req: service.AccessSecretVersionRequest, ctx: grpc.ServicerContext
    ) -> service.AccessSecretVersionResponse:
        m = _VERSION.match(req.name)
        if not m:
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, f"invalid name {req.name!r}")
        secret_name = req.name.rsplit("/versions/", 1)[0]
        secret = self._secret(secret_name, ctx)
        wanted = m.group(3)
        if wanted == "latest":
            enabled = [
                i
                for i, v in enumerate(secret.versions, 1)
                if v.state == resources.SecretVersion.State.ENABLED
            ]
            if not enabled:
                _abort(ctx, grpc.StatusCode.NOT_FOUND, f"Secret Version [{req.name}] not found.")
            number = enabled[-1]
        else:
            if not wanted.isdigit() or not 1 <= int(wanted) <= len(secret.versions):
                _abort(ctx, grpc.StatusCode.NOT_FOUND, f"Secret Version [{req.name}] not found.")
            number = int(wanted)
            if secret.versions[number - 1].state != resources.SecretVersion.State.ENABLED:
                _abort(
                    ctx, grpc.StatusCode.FAILED_PRECONDITION, f"Secret Version [{req.name}] is not enabled."
                )
        data = secret.versions[number - 1].data
        crc = google_crc32c.value(data)
        if m.group(2) in self.corrupt:
            crc ^= 1
        return service.AccessSecretVersionResponse(
            name=f"{secret_name}/versions/{number}",
            payload=resources.SecretPayload(data=data, data_crc32c=crc),
        )

    # Plumbing --------------------------------------------------------------------

    def _secret(self, name: str, ctx: grpc.ServicerContext) -> _Secret:
        if not _SECRET.match(name):
            _abort(ctx, grpc.StatusCode.INVALID_ARGUMENT, f"invalid name {name!r}")
        secret = self.secrets.get(name)
        if secret is None:
            _abort(ctx, grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found or has no versions.")
        return secret

    def _handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Callable[..., Any], Any, Callable[[Any], bytes]]] = {
            "CreateSecret": (self.create_secret, service.CreateSecretRequest, resources.Secret.serialize),
            "GetSecret": (self.get_secret, service.GetSecretRequest, resources.Secret.serialize),
            "DeleteSecret": (self.delete_secret, service.DeleteSecretRequest, _serialize_pb),
            "ListSecrets": (
                self.list_secrets,
                service.ListSecretsRequest,
                service.ListSecretsResponse.serialize,
            ),
            "AddSecretVersion": (
                self.add_secret_version,
                service.AddSecretVersionRequest,
                resources.SecretVersion.serialize,
            ),
            "AccessSecretVersion": (
                self.access_secret_version,
                service.AccessSecretVersionRequest,
                service.AccessSecretVersionResponse.serialize,
            ),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._counted(name, fn),
                request_deserializer=request_type.deserialize,
                response_serializer=serialize,
            )
            for name, (fn, request_type, serialize) in methods.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def _counted(self, name: str, fn: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        def call(req: Any, ctx: grpc.ServicerContext) -> Any:
            # One lock around the whole call: the store is tiny and this keeps the
            # real service's per-resource atomicity without more machinery.
            with self._lock:
                self.calls[name] += 1
                self.deadlines.append((name, ctx.time_remaining()))
                return fn(req, ctx)

        return call


def _abort(ctx: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> NoReturn:
    ctx.abort(code, details)  # raises; the line below only tells the type checker so
    raise AssertionError("unreachable")


def _serialize_pb(message: Any) -> bytes:
    return bytes(message.SerializeToString())


def _now() -> datetime:
    return datetime.now(UTC)
