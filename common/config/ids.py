"""Id patterns, apart from the pydantic models so light modules can check ids cheaply."""

from __future__ import annotations

import re

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
IDENT = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_SLUG_RE = re.compile(SLUG)
# Tenant ids the platform keeps for itself. Secret ids are `{tenant}__{kind}__{id}` and
# a tenant's identity may read `{tenant}__*`, so a tenant called `platform` would read
# `platform__jwt__private-key`; deploys also name platform resources `platform-*`.
RESERVED_TENANT_IDS = frozenset({"platform"})


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))


def is_tenant_id(value: str) -> bool:
    """A slug that is not reserved for the platform."""
    return is_slug(value) and value not in RESERVED_TENANT_IDS
