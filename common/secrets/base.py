"""Secrets behind one interface: Secret Manager on GCP, a private file locally.

Secret ids are `{tenant}__{kind}__{id}` (tenant slugs hold no underscore), so
a per-tenant IAM condition on the name prefix `{tenant}__` confines a
service account to its own tenant's secrets.
"""

from __future__ import annotations

import re
from typing import Protocol

_SEGMENT = re.compile(r"^[A-Za-z0-9-]+$")


class SecretNotFound(Exception):
    pass


def secret_id(tenant: str, kind: str, ident: str) -> str:
    for part in (tenant, kind, ident):
        if not _SEGMENT.match(part):
            raise ValueError(f"invalid secret id segment: {part!r}")
    return f"{tenant}__{kind}__{ident}"


class SecretsBackend(Protocol):
    async def get(self, secret: str, version: str = "latest") -> str:
        """Return the payload; raise SecretNotFound when absent."""
        ...

    async def put(self, secret: str, value: str) -> str:
        """Add a version (creating the secret if needed); return the version id."""
        ...

    async def delete(self, secret: str) -> None: ...

    async def ping(self) -> None:
        """Cheap reachability check for /health; raise on failure."""
        ...
