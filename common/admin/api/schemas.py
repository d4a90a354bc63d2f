"""Request and response bodies of the admin API that are not config records.

Every request model forbids unknown fields, so a typo or an attempt to set a
server-managed field (`password_hash`, `key_hash`, `tenant_id` on PATCH) is a
422 naming the field instead of being silently dropped. The same models feed
the OpenAPI document, so the document and the validation cannot drift.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.auth.roles import Role
from common.auth.users import USERNAME_PATTERN
from common.config.models import IDENT, SLUG, Assistant, Provider, refuse_reserved_tenant


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Body):
    type: str
    message: str
    request_id: str
    field: str | None = None


class ErrorResponse(Body):
    """SPEC §6: every error, from every function."""

    error: ErrorDetail


# Auth ------------------------------------------------------------------------


class LoginRequest(Body):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(Body):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class Me(Body):
    id: str
    username: str
    role: Role
    tenant_id: str | None


# Tenants ---------------------------------------------------------------------


class TenantCreate(Body):
    id: str = Field(default=None, pattern=SLUG, description="generated when absent")  # type: ignore[assignment]
    name: str = Field(default="", max_length=256)
    is_active: bool = True

    _not_reserved = field_validator("id")(refuse_reserved_tenant)


class TenantPatch(Body):
    """Budgets are platform-owned limits (`null` lifts one); only platform admins reach this."""

    name: str = Field(default=None, max_length=256)  # type: ignore[assignment]
    is_active: bool = Field(default=None)  # type: ignore[assignment]
    daily_token_budget: int | None = Field(default=None, gt=0, le=10**15)
    daily_cost_budget: float | None = Field(default=None, gt=0, le=10**12)


# Users -----------------------------------------------------------------------

_EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,190}$"


class UserCreate(Body):
    id: str = Field(default=None, pattern=IDENT, description="generated when absent")  # type: ignore[assignment]
    username: str = Field(
        pattern=USERNAME_PATTERN.replace("a-z", "A-Za-z"), description="stored lower-case; unique"
    )
    password: str = Field(min_length=12, max_length=1024, json_schema_extra={"writeOnly": True})
    email: str | None = Field(default=None, pattern=_EMAIL)
    full_name: str = Field(default="", max_length=256)
    role: Role
    tenant_id: str | None = Field(
        default=None, pattern=SLUG, description="defaults to the caller's tenant; null for platform admins"
    )
    is_active: bool = True


class UserPatch(Body):
    """`id`, `username`, `tenant_id` and hashes are not here: changing them is a 422."""

    password: str = Field(default=None, min_length=12, max_length=1024, json_schema_extra={"writeOnly": True})  # type: ignore[assignment]
    email: str | None = Field(default=None, pattern=_EMAIL)
    full_name: str = Field(default=None, max_length=256)  # type: ignore[assignment]
    role: Role = Field(default=None)  # type: ignore[arg-type]
    is_active: bool = Field(default=None)  # type: ignore[assignment]


class UserOut(Body):
    id: str
    username: str
    email: str | None
    full_name: str
    role: Role
    tenant_id: str | None
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None


# Client keys -----------------------------------------------------------------

_SCOPE = r"^[a-z][a-z0-9:_-]{0,31}$"


class ClientKeyCreate(Body):
    id: str = Field(default=None, pattern=IDENT, description="generated when absent")  # type: ignore[assignment]
    app_id: str = Field(pattern=IDENT)
    name: str = Field(default="", max_length=256)
    scopes: list[str] = Field(
        default_factory=lambda: ["chat"],
        max_length=16,
        description="chat (everything an app does), actions (catalogue and actions), threads:read",
    )


class ClientKeyPatch(Body):
    """`is_active: false` revokes the key (as DELETE does); `true` restores it."""

    name: str = Field(default=None, max_length=256)  # type: ignore[assignment]
    is_active: bool = Field(default=None)  # type: ignore[assignment]
    scopes: list[str] = Field(default=None, max_length=16)  # type: ignore[arg-type]


class ClientKeyOut(Body):
    id: str
    app_id: str
    name: str
    prefix: str
    scopes: list[str]
    is_active: bool
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None = None


class ClientKeyCreated(ClientKeyOut):
    key: str = Field(description="the plaintext key: shown in this response only, never again")


# Assistants: revisions ---------------------------------------------------------


class Revision(Body):
    revision: int
    action: str = Field(description="bundle | create | update | rollback")
    at: datetime | None
    actor: str | None = Field(description="username of the admin who made it; null for the bundle")
    rolled_back_to: int | None = None
    record: Assistant


class ProviderRevision(Body):
    revision: int
    action: str = Field(description="bundle | create | update | rollback")
    at: datetime | None
    actor: str | None
    rolled_back_to: int | None = None
    record: Provider


class RollbackRequest(Body):
    revision: int = Field(ge=1)


# Providers: test and playground ------------------------------------------------


class ProviderTestRequest(Body):
    credential_id: str = Field(pattern=IDENT)
    model_id: str | None = Field(
        default=None, pattern=IDENT, description="defaults to the provider's first model"
    )
    message: str | None = Field(
        default=None, min_length=1, max_length=4000, description="code providers: the test message"
    )


class ProviderTestStep(Body):
    name: Literal["validate", "validation_code", "call"]
    status: Literal["ok", "error", "skipped"]
    latency_ms: float
    error: str | None = None
    error_type: str | None = None
    line: int | None = Field(default=None, description="the line in the operator's code that failed")


class ProviderTestResult(Body):
    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None
    upstream_status: int | None = None
    steps: list[ProviderTestStep] | None = Field(default=None, description="code providers: each step")
    reply: str | None = Field(default=None, description="code providers: the first characters of the reply")


class CodeProblem(Body):
    field: str
    line: int | None
    column: int | None
    message: str


class CodeValidateRequest(Body):
    python_code: str = Field(max_length=256 * 1024)
    config_schema: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    required_dependencies: list[str] = Field(default_factory=list, max_length=50)
    validation_code: str | None = Field(default=None, max_length=256 * 1024)


class CodeValidateResult(Body):
    valid: bool
    problems: list[CodeProblem]


class CodeTemplate(Body):
    kind: str
    python_code: str
    config_schema: dict[str, Any]
    config: dict[str, Any]
    required_dependencies: list[str]
    validation_code: str


class ProviderCode(Body):
    id: str
    python_code: str | None
    validation_code: str | None
    config_schema: dict[str, Any] | None
    config: dict[str, Any]
    required_dependencies: list[str]


class PlaygroundMessage(Body):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=32 * 1024)


class PlaygroundRequest(Body):
    provider_id: str = Field(pattern=IDENT)
    model_id: str = Field(pattern=IDENT)
    credential_id: str = Field(pattern=IDENT)
    system_prompt: str | None = Field(default=None, max_length=32 * 1024)
    messages: list[PlaygroundMessage] | None = Field(default=None, min_length=1, max_length=100)
    message: str | None = Field(default=None, min_length=1, max_length=32 * 1024)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_output_tokens: int | None = Field(default=None, gt=0, le=1_000_000)


class TokenUsage(Body):
    input_tokens: int
    output_tokens: int


class PlaygroundResult(Body):
    text: str
    usage: TokenUsage
    model: str
    provider: str
    finish_reason: str
    latency_ms: float


# Usage, audit, config import ---------------------------------------------------


class UsageRow(Body):
    day: str
    app_id: str
    assistant_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost: float


class UsageTotals(Body):
    requests: int
    input_tokens: int
    output_tokens: int
    cost: float


class UsagePage(Body):
    items: list[UsageRow]
    totals: UsageTotals
    next_page_token: str | None
    from_: date = Field(alias="from")
    to: date

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class AuditEntry(Body):
    id: str
    at: datetime
    actor_id: str
    actor: str
    role: Role
    tenant_id: str | None
    action: str
    collection: str
    target_id: str
    fields: list[str] = Field(description="names of the fields that changed; never their values")
    request_id: str


class ImportResult(Body):
    tenant: str
    counts: dict[str, int]
    overridden_by_firestore: dict[str, list[str]] = Field(
        description="records whose Firestore copy wins over the imported bundle"
    )


def page_model(item: type[BaseModel], name: str) -> type[BaseModel]:
    """`{"items": [...], "next_page_token": str | null}` for one item type."""
    from pydantic import create_model

    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(extra="forbid"),
        items=(list[item], ...),  # type: ignore[valid-type]
        next_page_token=(str | None, ...),
    )
    return model


def jsonable(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)
