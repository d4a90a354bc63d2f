"""Secret Manager backend.

Follows python-docs-samples `secretmanager/snippets`: resource names are
built explicitly and every payload's CRC32C is checked, because a corrupted
provider key fails far away from here (as a 401 from the provider) and is
hard to diagnose there. Every call carries a timeout: a function waiting the
library's default 60 s on a secret holds a user's request hostage.
"""

from __future__ import annotations

import contextlib
from typing import Any

import google_crc32c
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.retry import AsyncRetry, if_exception_type
from google.auth.credentials import Credentials
from google.cloud.secretmanager_v1 import SecretManagerServiceAsyncClient
from google.cloud.secretmanager_v1.types import resources

from common.secrets.base import SecretNotFound

DEFAULT_TIMEOUT_S = 10.0

# Only transient, server-side refusals are worth retrying, and only within our timeout.
_TRANSIENT = if_exception_type(gexc.ServiceUnavailable, gexc.ResourceExhausted, gexc.InternalServerError)


class SecretChecksumError(Exception):
    """The payload did not match its CRC32C: corrupted in storage or in transit."""


class SecretManagerBackend:
    """`SecretsBackend` over Google Cloud Secret Manager.

    The client is created on first use and then reused: creating it at import
    time would need credentials just to import the module (and tests to patch
    it), and creating it per call would redo the channel and auth handshake on
    every request.
    """

    def __init__(
        self,
        project: str,
        client: SecretManagerServiceAsyncClient | None = None,
        *,
        client_options: ClientOptions | None = None,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not project:
            raise ValueError("a Google Cloud project is required")
        self.project = project
        self.timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._client_options = client_options
        self._credentials = credentials
        self._retry = AsyncRetry(
            predicate=_TRANSIENT, initial=0.1, maximum=1.0, multiplier=2.0, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"SecretManagerBackend(project={self.project!r})"

    @property
    def client(self) -> SecretManagerServiceAsyncClient:
        if self._client is None:
            self._client = SecretManagerServiceAsyncClient(
                credentials=self._credentials, client_options=self._client_options
            )
        return self._client

    # Names -----------------------------------------------------------------

    def project_path(self) -> str:
        return f"projects/{self.project}"

    def secret_path(self, secret: str) -> str:
        return f"projects/{self.project}/secrets/{secret}"

    def version_path(self, secret: str, version: str = "latest") -> str:
        return f"projects/{self.project}/secrets/{secret}/versions/{version}"

    # SecretsBackend ----------------------------------------------------------

    async def get(self, secret: str, version: str = "latest") -> str:
        try:
            response = await self.client.access_secret_version(
                request={"name": self.version_path(secret, version)},
                retry=self._retry,
                timeout=self.timeout,
            )
        except gexc.NotFound:
            raise SecretNotFound(f"secret {secret!r} version {version!r} not found") from None
        except gexc.FailedPrecondition:
            # Disabled or destroyed version: there is no value to hand out.
            raise SecretNotFound(f"secret {secret!r} version {version!r} is not enabled") from None
        data: bytes = response.payload.data
        if google_crc32c.value(data) != response.payload.data_crc32c:
            raise SecretChecksumError(f"checksum mismatch on secret {secret!r} version {version!r}")
        return data.decode("utf-8")

    async def put(self, secret: str, value: str) -> str:
        data = value.encode("utf-8")
        request = {
            "parent": self.secret_path(secret),
            "payload": {"data": data, "data_crc32c": google_crc32c.value(data)},
        }
        try:
            added = await self._add_version(request)
        except gexc.NotFound:
            await self._create_secret(secret)
            added = await self._add_version(request)
        return str(added.name).rsplit("/", 1)[-1]

    async def delete(self, secret: str) -> None:
        with contextlib.suppress(gexc.NotFound):
            await self.client.delete_secret(
                request={"name": self.secret_path(secret)}, retry=self._retry, timeout=self.timeout
            )

    async def ping(self) -> None:
        await self.client.list_secrets(
            request={"parent": self.project_path(), "page_size": 1},
            retry=self._retry,
            timeout=self.timeout,
        )

    async def aclose(self) -> None:
        """Close the channel we opened; a client handed to us belongs to the caller."""
        if self._client is not None and self._owns_client:
            await self._client.transport.close()
            self._client = None

    # Helpers -------------------------------------------------------------------

    async def _add_version(self, request: dict[str, Any]) -> resources.SecretVersion:
        # No retry: a retried add after a lost response would create a second version.
        return await self.client.add_secret_version(request=request, retry=None, timeout=self.timeout)

    async def _create_secret(self, secret: str) -> None:
        labels = {}
        tenant, sep, _ = secret.partition("__")
        if sep and tenant:
            # Label values must be lowercase; tenant slugs already are.
            labels["tenant"] = tenant.lower()
        # AlreadyExists: another instance created it between our add and our create.
        with contextlib.suppress(gexc.AlreadyExists):
            await self.client.create_secret(
                request={
                    "parent": self.project_path(),
                    "secret_id": secret,
                    "secret": {"replication": {"automatic": {}}, "labels": labels},
                },
                retry=self._retry,
                timeout=self.timeout,
            )
