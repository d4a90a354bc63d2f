"""The effective config of one tenant: GCS bundle overlaid by Firestore records.

Same id: Firestore wins; a Firestore tombstone (`_deleted: true`) hides the
bundle's record. An invalid Firestore record is skipped and logged rather
than taking the whole tenant down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from common.config.models import (
    COLLECTIONS,
    App,
    Assistant,
    Bundle,
    Credential,
    Model,
    Provider,
    Tenant,
    Tool,
)
from common.logging import get_logger, log

_log = get_logger("config")


@dataclass
class TenantConfig:
    tenant: Tenant | None
    apps: dict[str, App] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    credentials: dict[str, Credential] = field(default_factory=dict)
    assistants: dict[str, Assistant] = field(default_factory=dict)
    tools: dict[str, Tool] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.tenant is not None and self.tenant.is_active

    def app(self, app_id: str) -> App | None:
        app = self.apps.get(app_id)
        return app if app and app.is_active else None

    def app_by_slug(self, slug: str) -> App | None:
        for app in self.apps.values():
            if app.is_active and (app.slug == slug or app.id == slug):
                return app
        return None

    def app_assistants(self, app_id: str) -> list[Assistant]:
        return [a for a in self.assistants.values() if a.app_id == app_id and a.is_active]

    def assistant(self, app_id: str, ref: str) -> Assistant | None:
        """An active assistant of this app, by id or slug."""
        for a in self.app_assistants(app_id):
            if a.id == ref or a.slug == ref:
                return a
        return None

    def default_assistant(self, app_id: str) -> Assistant | None:
        app = self.app(app_id)
        if app and app.default_assistant_id:
            found = self.assistant(app_id, app.default_assistant_id)
            if found:
                return found
        candidates = sorted(self.app_assistants(app_id), key=lambda a: a.id)
        return candidates[0] if candidates else None


def merge(
    tenant_id: str,
    bundle: Bundle | None,
    tenant_doc: dict[str, Any] | None,
    overlay: dict[str, list[dict[str, Any]]],
) -> TenantConfig:
    tenant: Tenant | None = bundle.tenant if bundle else None
    if tenant_doc is not None:
        try:
            base = tenant.model_dump() if tenant else {}
            doc = {k: v for k, v in tenant_doc.items() if not k.startswith("_")}
            tenant = Tenant.model_validate({**base, **doc, "id": tenant_id})
        except ValidationError:
            log(_log, logging.WARNING, "invalid tenant record skipped", tenant=tenant_id)
    cfg = TenantConfig(tenant=tenant)
    for name, model in COLLECTIONS.items():
        merged: dict[str, Any] = {r.id: r for r in getattr(bundle, name)} if bundle else {}
        for raw in overlay.get(name, []):
            if raw.get("_deleted"):
                merged.pop(raw["id"], None)
                continue
            try:
                record = {k: v for k, v in raw.items() if not k.startswith("_")}
                merged[raw["id"]] = model.model_validate(record)
            except ValidationError as exc:
                log(
                    _log,
                    logging.WARNING,
                    "invalid record skipped",
                    tenant=tenant_id,
                    collection=name,
                    id=raw.get("id"),
                    error=str(exc.errors()[0].get("loc")),
                )
        setattr(cfg, name, merged)
    return cfg
