"""Parse and validate a tenant's YAML config bundle, within limits.

A bundle is tenant input (`POST /admin/config/import`) and is re-read from GCS
by every instance, so parsing it is bounded the same way on both paths: the
byte cap, no aliases, depth and node caps (`safe_yaml`), the tenant's JSON
Schemas checked (`common.tools.safe_schema`), all on the bounded pool with a
time limit (`load_bundle`), never on the event loop.
"""

from __future__ import annotations

from typing import Any

import yaml

from common import bounded
from common.config.models import Bundle
from common.config.safe_yaml import YamlLimits, YamlRefused, load
from common.errors import ValidationFailed
from common.settings import get_settings
from common.validation import validated


def bundle_path(tenant: str) -> str:
    return f"tenants/{tenant}/config.yaml"


def limits() -> YamlLimits:
    s = get_settings()
    return YamlLimits(s.bundle_max_bytes, s.bundle_max_depth, s.bundle_max_nodes)


def check_schemas(bundle: Bundle) -> None:
    """422 naming the field when an action's `input_schema` or a tool's `parameters` is unsafe."""
    from common.tools import safe_schema

    for i, assistant in enumerate(bundle.assistants):
        for name, action in assistant.actions.items():
            safe_schema.check(action.input_schema, f"assistants.{i}.actions.{name}.input_schema")
    for i, tool in enumerate(bundle.tools):
        safe_schema.check(tool.parameters, f"tools.{i}.parameters")


def bundle_from_data(data: Any, *, expected_tenant: str | None = None) -> Bundle:
    if not isinstance(data, dict):
        raise ValidationFailed("body: a bundle must be a mapping", field="body")
    bundle = validated(Bundle, data)
    if expected_tenant and bundle.tenant.id != expected_tenant:
        raise ValidationFailed(
            f"tenant.id is {bundle.tenant.id!r}, expected {expected_tenant!r}", field="tenant.id"
        )
    check_schemas(bundle)
    return bundle


def parse_bundle(text: str | bytes, *, expected_tenant: str | None = None) -> Bundle:
    """Synchronous: for the CLI and deploy scripts, and inside `load_bundle`'s worker."""
    return bundle_from_data(load(text, limits()), expected_tenant=expected_tenant)


async def load_bundle(text: str | bytes, *, expected_tenant: str | None = None) -> Bundle:
    """`parse_bundle` off the event loop, refused (422) past `BUNDLE_PARSE_TIMEOUT_S`."""
    timeout = get_settings().bundle_parse_timeout_s
    try:
        return await bounded.run(lambda: parse_bundle(text, expected_tenant=expected_tenant), timeout)
    except bounded.TimeUp:
        raise YamlRefused(f"body: the bundle took longer than {timeout:g} s to parse") from None


async def bundle_from_json(data: Any, *, expected_tenant: str | None = None) -> Bundle:
    """A bundle sent as JSON (already parsed with the request limits), checked off the loop."""
    timeout = get_settings().bundle_parse_timeout_s
    try:
        return await bounded.run(lambda: bundle_from_data(data, expected_tenant=expected_tenant), timeout)
    except bounded.TimeUp:
        raise YamlRefused(f"body: the bundle took longer than {timeout:g} s to check") from None


def dump_bundle(bundle: Bundle) -> str:
    data = bundle.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
