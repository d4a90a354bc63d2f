"""Admin writes: one Firestore batch per request, with its audit entry, then cache invalidation.

Everything a request changes in Firestore (the record, a tombstone, an
assistant revision, the audit entry) commits atomically. After the commit the
local config cache is dropped, so this instance sees the change at once;
other instances see it within `config_max_staleness_s` (10 s, SPEC §4).

Values are checked for storability before they are staged: Firestore refuses
empty or `__reserved__` map keys, integers beyond 64 bits and deep nesting,
and those are the caller's mistakes (422), not server errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common.admin.api.context import Call
from common.admin.observability.audit import new_entry
from common.config import cache
from common.config.models import Record
from common.errors import Conflict, ValidationFailed
from common.store.db import RPC_TIMEOUT_S, get_db, tenant_collection
from common.store.errors import firestore_guard
from common.store.storable import check_storable


def now() -> datetime:
    return datetime.now(UTC)


class Writes:
    """Stage changes for `tenant` (None: platform-wide, audited in the top-level log)."""

    def __init__(self, call: Call, tenant: str | None) -> None:
        self.call = call
        self.tenant = tenant
        self.batch: Any = get_db().batch()
        self.staged = 0

    def _meta(self) -> dict[str, Any]:
        return {"_updated_at": now(), "_updated_by": self.call.actor.username}

    def _ref(self, collection: str, ident: str) -> Any:
        if self.tenant is None:
            raise RuntimeError("config writes need a tenant")
        return tenant_collection(self.tenant, collection).document(ident)

    def put_record(self, collection: str, record: Record, extra: dict[str, Any] | None = None) -> None:
        data = record.model_dump(mode="json")
        check_storable(data)
        body = {k: v for k, v in data.items() if k != "id"}
        self.batch.set(self._ref(collection, record.id), {**body, **self._meta(), **(extra or {})})
        self.staged += 1

    def tombstone(self, collection: str, ident: str) -> None:
        """Hide a bundle record: the merge drops any record whose overlay doc says `_deleted`."""
        self.batch.set(self._ref(collection, ident), {"_deleted": True, **self._meta()})
        self.staged += 1

    def delete(self, collection: str, ident: str) -> None:
        self.batch.delete(self._ref(collection, ident))
        self.staged += 1

    def audit(self, action: str, collection: str, target_id: str, fields: list[str]) -> None:
        ref, body = new_entry(
            self.call.actor,
            tenant=self.tenant,
            action=action,
            collection=collection,
            target_id=target_id,
            fields=fields,
            request_id=self.call.request_id,
        )
        self.batch.create(ref, body)
        self.staged += 1

    async def commit(self, conflict: str = "the record was changed concurrently; retry") -> None:
        from google.api_core.exceptions import AlreadyExists, InvalidArgument

        try:
            async with firestore_guard():
                await self.batch.commit(timeout=RPC_TIMEOUT_S)
        except AlreadyExists:
            raise Conflict(conflict) from None
        except InvalidArgument:
            raise ValidationFailed("a value cannot be stored", field="body") from None
        if self.tenant:
            cache.invalidate(self.tenant)
