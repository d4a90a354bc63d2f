"""The Firestore client, created once per instance on first use (never at import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.settings import get_settings

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient, AsyncCollectionReference, AsyncDocumentReference

_client: AsyncClient | None = None

# Timeout for every Firestore RPC on the request path: a hung dependency must
# surface as a 503, not hold the request until the platform kills it.
RPC_TIMEOUT_S = 10.0


def get_db() -> AsyncClient:
    global _client
    if _client is None:
        from google.cloud.firestore import AsyncClient

        _client = AsyncClient(project=get_settings().project)
    return _client


def reset_db() -> None:
    """Forget the client (tests start emulators per session, and event loops differ)."""
    global _client
    _client = None


def tenant_doc(tenant: str) -> AsyncDocumentReference:
    return get_db().collection("tenants").document(tenant)


def tenant_collection(tenant: str, name: str) -> AsyncCollectionReference:
    return tenant_doc(tenant).collection(name)
