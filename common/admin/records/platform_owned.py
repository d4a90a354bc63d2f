"""Limits a platform sells to a tenant: only platform admins change them.

`tenant.daily_token_budget`, `tenant.daily_cost_budget` and each app's
`rate_limit_per_minute` bound what a tenant costs the platform, so a tenant's
own admin must not lift them, by PATCH or by re-importing a bundle without
them. A tenant admin's write that would change one is refused with 403
naming the field; the same value (an export imported back unchanged, or a
PATCH that repeats the current value) passes. Platform admins set them
through `PATCH /admin/tenants/{id}` (budgets), `PATCH /admin/apps/{id}`
(rate limit) or an import.

An import is compared with the effective config (bundle + Firestore), what
chat enforces and what an export shows. A value a platform admin set by PATCH
lives in the tenant document or an overlay record, where a tenant admin
cannot write, so it stays in force whatever a bundle says; a platform
admin's import updates the tenant document's budgets so the import wins.

Known limit: `daily_cost_budget` is computed from the models' prices, which
the tenant defines; a platform that sells a cost budget should also fix the
prices (or sell a token budget, which the tenant cannot influence).
"""

from __future__ import annotations

from typing import Any

from common.auth.roles import Principal
from common.config.effective import TenantConfig
from common.config.models import App, Bundle, Record, Tenant
from common.errors import Forbidden

TENANT_FIELDS = ("daily_token_budget", "daily_cost_budget")
APP_FIELDS = ("rate_limit_per_minute",)
FIELDS: dict[str, tuple[str, ...]] = {"apps": APP_FIELDS}


def _refuse(field: str) -> Forbidden:
    return Forbidden(f"{field}: only a platform admin may change this limit", field=field)


def check_record(actor: Principal, collection: str, old: Record | None, new: Record) -> None:
    """A CRUD create or PATCH: 403 when a tenant admin changes a platform-owned field."""
    if actor.is_platform:
        return
    for name in FIELDS.get(collection, ()):
        before = getattr(old, name) if old is not None else None
        if getattr(new, name) != before:
            raise _refuse(name)


def check_import(actor: Principal, before: TenantConfig, bundle: Bundle) -> None:
    """An import: 403 when the bundle gives a platform-owned field another value than the
    one in force (so an export imported back unchanged passes, and leaving one out is a
    change)."""
    if actor.is_platform:
        return
    for name in TENANT_FIELDS:
        if _tenant_value(before.tenant, name) != getattr(bundle.tenant, name):
            raise _refuse(f"tenant.{name}")
    for index, app in enumerate(bundle.apps):
        old: App | None = before.apps.get(app.id)
        for name in APP_FIELDS:
            if getattr(app, name) != (getattr(old, name) if old is not None else None):
                raise _refuse(f"apps.{index}.{name}")


def _tenant_value(tenant: Tenant | None, name: str) -> Any:
    return getattr(tenant, name) if tenant is not None else None


def doc_updates(tenant_doc: dict[str, Any] | None, tenant: Tenant) -> dict[str, Any]:
    """A platform import's budgets for the tenant document, where they would otherwise
    keep overriding the bundle (values a platform admin set by PATCH)."""
    if not tenant_doc:
        return {}
    return {
        name: getattr(tenant, name)
        for name in TENANT_FIELDS
        if name in tenant_doc and tenant_doc[name] != getattr(tenant, name)
    }
