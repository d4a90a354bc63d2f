"""Deploy settings: names, and how each function is sized.

Sizes come from, highest first: an environment variable `{FUNCTION}_{FIELD}`
(e.g. `CHAT_MIN_INSTANCES=1`), the tenant's entry in `infra/tenants.yaml`,
that file's `defaults`, then `DEFAULT_SPECS` below. Who may invoke a function
is deliberately not configurable: it is part of the security design
(docs/deploy.md), not a size.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.bundle import FUNCTIONS

TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Cloud Functions names: a letter first, no trailing hyphen, at most 63 characters.
FUNCTION_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
# IAM service account ids: 6-30 characters, a letter first, no trailing hyphen.
ACCOUNT_ID_RE = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")

DEFAULT_REGION = "us-central1"
# `platform` names the platform admin's function, key and secrets (platform__*).
RESERVED_TENANTS = frozenset({"platform"})
# Start, chat and admin authenticate callers themselves (client keys, JWT);
# health and sandbox are reachable only with a Google identity token.
PUBLIC_FUNCTIONS = frozenset({"start", "chat", "admin"})
# The variables deploy sets itself; tenants.yaml `env` may not replace them.
RESERVED_ENV = frozenset(
    {
        "TENANT_ID",
        "GOOGLE_CLOUD_PROJECT",
        "CONFIG_BUCKET",
        "SECRETS_BACKEND",
        "FUNCTION_USE_ASGI",
        "SANDBOX_URL",
        "SANDBOX_AUTH",
        "SANDBOX_AUDIENCE",
        "SANDBOX_ALLOWED_CALLERS",
        "TURN_DEADLINE_S",
        "HEALTH_BEHIND_IAM",
        "SERVICE_VERSION",
        "BOOTSTRAP_ADMIN_USERNAME",
        "BOOTSTRAP_ADMIN_PASSWORD",
    }
)


class SettingsError(ValueError):
    pass


class FunctionSpec(BaseModel):
    """How one function runs: the `gcloud functions deploy` sizing flags."""

    model_config = ConfigDict(extra="forbid")

    memory: str = Field(pattern=r"^[1-9][0-9]*(Mi|Gi|M|G)$")
    cpu: float = Field(default=1, gt=0, le=8)
    timeout: int = Field(gt=0, le=3600, description="seconds")
    concurrency: int = Field(ge=1, le=1000)
    max_instances: int = Field(ge=1)
    min_instances: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _concurrency_needs_a_cpu(self) -> FunctionSpec:
        if self.concurrency > 1 and self.cpu < 1:
            raise ValueError("concurrency > 1 needs cpu >= 1 (a Cloud Functions gen2 rule)")
        if self.min_instances is not None and self.min_instances > self.max_instances:
            raise ValueError("min_instances is above max_instances")
        return self

    @property
    def cpu_flag(self) -> str:
        return f"{self.cpu:g}"


DEFAULT_SPECS: dict[str, FunctionSpec] = {
    # One async instance serves many concurrent requests and SSE streams.
    "start": FunctionSpec(memory="512Mi", timeout=60, concurrency=80, max_instances=20),
    "chat": FunctionSpec(memory="1Gi", timeout=600, concurrency=80, max_instances=20),
    "admin": FunctionSpec(memory="512Mi", timeout=120, concurrency=80, max_instances=5),
    "health": FunctionSpec(memory="512Mi", timeout=60, concurrency=10, max_instances=2),
    # One code run per instance: requests never share the sandbox's process limits.
    "sandbox": FunctionSpec(memory="512Mi", timeout=60, concurrency=1, max_instances=10),
}


class _Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str | None = None
    # Deploy `{tenant}-sandbox` even when config.yaml has no `kind: code` provider
    # (for code providers added later through admin).
    code_providers: bool | None = None
    functions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    env: dict[str, str | int | float | bool] = Field(default_factory=dict)


class _TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: _Overrides = Field(default_factory=_Overrides)
    tenants: dict[str, _Overrides] = Field(default_factory=dict)


def validate_tenant(tenant: str) -> str:
    """Reject anything that is not a slug before it reaches a resource name or IAM condition."""
    if not TENANT_RE.match(tenant or ""):
        raise SettingsError(f"invalid tenant {tenant!r}: expected a slug matching {TENANT_RE.pattern}")
    if tenant in RESERVED_TENANTS:
        raise SettingsError(f"invalid tenant {tenant!r}: reserved (the platform admin's own resources)")
    longest = f"{tenant}-{max(FUNCTIONS, key=len)}"
    if not FUNCTION_NAME_RE.match(longest):
        raise SettingsError(
            f"tenant {tenant!r} cannot name its functions ({longest!r}): "
            "start with a letter and keep it to 55 characters"
        )
    return tenant


def function_name(tenant: str, function: str) -> str:
    return f"{tenant}-{function}"


def account_id(tenant: str, suffix: str) -> str:
    """`{tenant}-{suffix}` when IAM accepts it, else a stable shortened form with a hash.

    Service account ids allow only 6-30 characters starting with a letter,
    narrower than tenant slugs; the hash keeps shortened ids unique.
    """
    plain = f"{tenant}-{suffix}"
    if ACCOUNT_ID_RE.match(plain):
        return plain
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:6]
    room = 30 - len(f"t--{digest}-{suffix}")
    stem = tenant[:room].strip("-")
    return f"t-{stem}-{digest}-{suffix}" if stem else f"t-{digest}-{suffix}"


def load_tenants_file(root: Path) -> _TenantsFile:
    path = root / "infra" / "tenants.yaml"
    if not path.is_file():
        return _TenantsFile()
    try:
        return _TenantsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise SettingsError(f"{path}: {exc}") from None


def tenant_region(root: Path, tenant: str) -> str | None:
    data = load_tenants_file(root)
    entry = data.tenants.get(tenant)
    return (entry.region if entry else None) or data.defaults.region


def function_spec(
    root: Path, tenant: str, function: str, environ: Mapping[str, str] | None = None
) -> FunctionSpec:
    environ = os.environ if environ is None else environ
    data = load_tenants_file(root)
    layers = [data.defaults, data.tenants.get(tenant) or _Overrides()]
    merged: dict[str, Any] = DEFAULT_SPECS[function].model_dump()
    for layer in layers:
        unknown = set(layer.functions) - set(FUNCTIONS)
        if unknown:
            raise SettingsError(f"infra/tenants.yaml: unknown function(s) {sorted(unknown)}")
        merged.update(layer.functions.get(function, {}))
    for field_name in FunctionSpec.model_fields:
        raw = environ.get(f"{function.upper()}_{field_name.upper()}")
        if raw:
            merged[field_name] = raw
    try:
        return FunctionSpec.model_validate(merged)
    except ValidationError as exc:
        raise SettingsError(f"settings of {function!r} for tenant {tenant!r}: {exc}") from None


def turn_deadline_s(timeout_s: int) -> int:
    """TURN_DEADLINE_S for a function: a margin below `--timeout` so a turn ends
    (and stores its outcome) before the platform kills the request. 600 -> 540."""
    return max(1, timeout_s - max(10, -(-timeout_s // 10)))


def code_providers_flag(root: Path, tenant: str) -> bool | None:
    """`code_providers` of infra/tenants.yaml (tenant entry, else defaults), None when unset."""
    data = load_tenants_file(root)
    entry = data.tenants.get(tenant)
    if entry and entry.code_providers is not None:
        return entry.code_providers
    return data.defaults.code_providers


def extra_env(root: Path, tenant: str) -> dict[str, str]:
    """Extra runtime variables (limits, feature flags) from infra/tenants.yaml."""
    data = load_tenants_file(root)
    merged = {**data.defaults.env, **(data.tenants[tenant].env if tenant in data.tenants else {})}
    env: dict[str, str] = {}
    for key, value in merged.items():
        if key in RESERVED_ENV:
            raise SettingsError(f"infra/tenants.yaml: {key} is set by deploy and cannot be overridden")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "," in text or not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
            raise SettingsError(f"infra/tenants.yaml: env {key}={text!r} is not a NAME=value without commas")
        env[key] = text
    return env
