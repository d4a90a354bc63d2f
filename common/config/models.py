"""Typed records of tenant configuration (SPEC §3), shared by the GCS bundle,
the Firestore overlay and the admin API.

Unknown fields are errors (`extra="forbid"`): a typo in a bundle fails
validation naming the field instead of being silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.config.ids import IDENT, RESERVED_TENANT_IDS, SLUG, is_slug  # noqa: F401 - re-exported
from common.providers.response_format import normalized

ProviderKind = Literal["openai", "cohere", "gemini", "openai_compatible", "code"]


def refuse_reserved_tenant(value: str) -> str:
    """Tenant ids the platform keeps (`platform`: its secret ids are `platform__*`)."""
    if value in RESERVED_TENANT_IDS:
        raise ValueError(f"{value!r} is reserved for the platform")
    return value


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=IDENT)
    is_active: bool = True


class Tenant(Record):
    id: str = Field(pattern=SLUG)
    name: str = ""
    # Budgets per UTC day; a turn that would start over budget is refused with 429.
    daily_token_budget: int | None = Field(default=None, gt=0, le=10**15)
    daily_cost_budget: float | None = Field(default=None, gt=0, le=10**12)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return refuse_reserved_tenant(value)


class App(Record):
    name: str
    slug: str = Field(pattern=SLUG)
    description: str = ""
    icon_url: str | None = None
    endpoint: str | None = None
    default_assistant_id: str | None = None
    # Requests per minute per client key of this app, per instance (None: the default).
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=1_000_000)


class Provider(Record):
    kind: ProviderKind
    name: str
    display_name: str = ""
    icon_url: str | None = None
    base_url: str | None = None
    python_code: str | None = None
    # Non-secret config values of a code provider (checked against config_schema); secrets
    # go in a credential.
    config: dict[str, Any] = Field(default_factory=dict)
    config_schema: dict[str, Any] | None = None
    required_dependencies: list[str] = Field(default_factory=list)
    validation_code: str | None = None


class Model(Record):
    provider_id: str
    name: str
    display_name: str = ""
    max_tokens: int = Field(default=128_000, gt=0, le=100_000_000)
    max_output_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    supports_streaming: bool = True
    supports_system_prompt: bool = True
    supports_tools: bool = True
    supports_images: bool = False  # image_url parts are sent only to models marked multimodal
    input_cost_per_million: float = Field(default=0.0, ge=0, le=1_000_000)
    output_cost_per_million: float = Field(default=0.0, ge=0, le=1_000_000)


class Credential(Record):
    """A provider key (`kind: provider`, names its `provider_id`) or a webhook's auth value
    (`kind: webhook`, no provider). The value lives only in the secrets backend.

    `secret_version` pins the version that chat uses; rotating a key adds a
    version and updates this field, so caches keyed by version never go stale.
    `host` and `host_proof` bind a provider key to the upstream host it was
    entered for (`common.providers.endpoint`); both are set only when the value is.
    """

    kind: Literal["provider", "webhook"] = "provider"
    provider_id: str | None = None
    name: str = ""
    last4: str = ""
    secret_version: str = "latest"  # noqa: S105 - a version id, not a secret
    host: str = ""
    host_proof: str = ""

    @model_validator(mode="after")
    def _provider_matches_kind(self) -> Credential:
        if self.kind == "provider" and not self.provider_id:
            raise ValueError("provider_id: required for provider credentials")
        if self.kind == "webhook" and self.provider_id:
            raise ValueError("provider_id: webhook credentials belong to no provider")
        return self


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    template: str
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Assistant(Record):
    app_id: str
    name: str
    slug: str = Field(pattern=SLUG)
    description: str = ""
    system_prompt: str = ""
    model_id: str
    credential_id: str | None = None
    is_streaming: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_output_tokens: int | None = Field(default=None, gt=0, le=10_000_000)
    tools: list[str] = Field(default_factory=list)
    # Tool loop limits for this assistant; None means the service defaults
    # (MAX_TOOL_ROUNDS, TOOL_TIMEOUT_S). 0 rounds turns its tools off.
    max_tool_rounds: int | None = Field(default=None, ge=0, le=50)
    tool_timeout_s: float | None = Field(default=None, gt=0, le=300)
    actions: dict[str, Action] = Field(default_factory=dict)
    fallback_model_ids: list[str] = Field(default_factory=list)
    # OpenAI's shape ({"type": "json_object"} or {"type": "json_schema", "json_schema": {...}});
    # every reply of the assistant is then JSON (a request's own response_format wins).
    response_format: dict[str, Any] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    endpoint: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("response_format", mode="before")
    @classmethod
    def _response_format(cls, value: Any) -> dict[str, Any] | None:
        return normalized(value)


class Tool(Record):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: str
    credential_id: str | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class Bundle(BaseModel):
    """`gs://$CONFIG_BUCKET/tenants/{tenant}/config.yaml`: config as code, never secret values."""

    model_config = ConfigDict(extra="forbid")

    tenant: Tenant
    apps: list[App] = Field(default_factory=list)
    providers: list[Provider] = Field(default_factory=list)
    models: list[Model] = Field(default_factory=list)
    credentials: list[Credential] = Field(default_factory=list)
    assistants: list[Assistant] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)

    @field_validator("apps", "providers", "models", "credentials", "assistants", "tools")
    @classmethod
    def _unique_ids(cls, items: list[Record]) -> list[Record]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"duplicate id {item.id!r}")
            seen.add(item.id)
        return items


COLLECTIONS: dict[str, type[Record]] = {
    "apps": App,
    "providers": Provider,
    "models": Model,
    "credentials": Credential,
    "assistants": Assistant,
    "tools": Tool,
}
