"""Parse and validate a tenant's YAML config bundle."""

from __future__ import annotations

import yaml

from common.config.models import Bundle
from common.errors import ValidationFailed
from common.validation import validated


def bundle_path(tenant: str) -> str:
    return f"tenants/{tenant}/config.yaml"


def parse_bundle(text: str | bytes, *, expected_tenant: str | None = None) -> Bundle:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"bundle is not valid YAML: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise ValidationFailed("bundle must be a YAML mapping", field="body")
    bundle = validated(Bundle, data)
    if expected_tenant and bundle.tenant.id != expected_tenant:
        raise ValidationFailed(
            f"tenant.id is {bundle.tenant.id!r}, expected {expected_tenant!r}", field="tenant.id"
        )
    return bundle


def dump_bundle(bundle: Bundle) -> str:
    data = bundle.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
