"""One admin request: who calls, which tenant it acts on, and helpers to read input.

Tenant resolution (SPEC §5, §2): a tenant user's token fixes the tenant; a
platform admin names one with `X-Tenant-Id`. A tenant user naming another
tenant, or anyone naming a tenant outside a per-tenant deployment
(`TENANT_ID`), gets 404, as for a tenant that does not exist: ids do not leak.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

from common.auth.roles import Principal
from common.config.models import RESERVED_TENANT_IDS, SLUG
from common.errors import NotFound, ValidationFailed
from common.http.request import read_json, validate
from common.http.routing import Ctx
from common.settings import get_settings

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_SLUG_RE = re.compile(SLUG)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Scope(StrEnum):
    NONE = "none"  # not tenant-scoped (login, tenants, openapi)
    TENANT = "tenant"  # needs a tenant
    OPTIONAL = "optional"  # a platform admin may omit X-Tenant-Id to act platform-wide (users, audit)


@dataclass
class Call:
    ctx: Ctx
    principal: Principal | None
    tenant: str | None

    @property
    def params(self) -> dict[str, str]:
        return self.ctx.params

    @property
    def request_id(self) -> str:
        return self.ctx.request_id

    @property
    def actor(self) -> Principal:
        if self.principal is None:  # only public routes have no principal, and they do not ask
            raise RuntimeError("no principal on a public route")
        return self.principal

    @property
    def tenant_id(self) -> str:
        if self.tenant is None:
            raise RuntimeError("route is not tenant-scoped")
        return self.tenant

    async def json(self) -> Any:
        return await read_json(self.ctx.request, get_settings().max_body_bytes)

    async def body(self, model: type[M]) -> M:
        return validate(model, await self.json())

    def query(self, name: str) -> str | None:
        value = self.ctx.request.query_params.get(name)
        return value if value not in (None, "") else None

    def limit(self) -> int:
        raw = self.query("limit")
        if raw is None:
            return DEFAULT_LIMIT
        try:
            value = int(raw)
        except ValueError:
            raise ValidationFailed("limit: must be an integer", field="limit") from None
        if not 1 <= value <= MAX_LIMIT:
            raise ValidationFailed(f"limit: must be between 1 and {MAX_LIMIT}", field="limit")
        return value

    def page_token(self) -> str | None:
        raw = self.query("page_token")
        return decode_token(raw) if raw else None


def iso(value: Any) -> Any:
    """Firestore timestamps as ISO 8601 (`str()` of a datetime has a space, not `T`)."""
    return value.isoformat() if isinstance(value, datetime) else value


def encode_token(value: str) -> str:
    """Page tokens are opaque to clients (base64url of the last key), so the format may change."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    try:
        value = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        value = ""
    if not value:
        raise ValidationFailed("page_token: not a token this API issued", field="page_token")
    return value


def paginate(
    items: Sequence[T], key: Callable[[T], str], limit: int, after: str | None
) -> tuple[list[T], str | None]:
    """Items sorted by `key`, the page after the key `after`, and the next token."""
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [i for i in ordered if key(i) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, encode_token(key(page[-1])) if more and page else None


async def tenant_exists(tenant: str) -> bool:
    """A tenant exists once it has a Firestore document (not deleted) or a GCS bundle."""
    import asyncio

    from common.config.bundle import bundle_path
    from common.config.source import GCS_TIMEOUT_S, storage_client
    from common.store import records

    if not _SLUG_RE.match(tenant) or tenant in RESERVED_TENANT_IDS:
        return False
    doc = await records.get_tenant(tenant)
    if doc is not None:
        return not doc.get("_deleted")

    def blob_exists() -> bool:
        bucket = storage_client().bucket(get_settings().config_bucket)
        return bool(bucket.blob(bundle_path(tenant)).exists(timeout=GCS_TIMEOUT_S))

    return await asyncio.to_thread(blob_exists)


async def resolve_tenant(ctx: Ctx, principal: Principal, scope: Scope) -> str | None:
    if scope is Scope.NONE:
        return None
    pinned = get_settings().tenant_id
    header = ctx.request.headers.get("x-tenant-id") or None
    if principal.is_platform:
        wanted = header or pinned
        if wanted is None:
            if scope is Scope.OPTIONAL:
                return None
            raise ValidationFailed(
                "X-Tenant-Id: a platform admin must name the tenant with this header", field="X-Tenant-Id"
            )
    else:
        wanted = principal.tenant_id
        if wanted is None or (header is not None and header != wanted):
            raise NotFound("tenant not found")
    if pinned and wanted != pinned:
        raise NotFound("tenant not found")
    if not await tenant_exists(wanted):
        raise NotFound("tenant not found")
    return wanted
