"""Create and patch bodies for config records, derived from `common.config.models`.

Deriving (rather than restating) the fields keeps the admin API in step with
the record models another module owns: a field added there is writable here
and documented in the OpenAPI at once. Server-managed fields (timestamps,
`last4`, `secret_version`) are left out of both bodies, so sending them is a
422 naming the field; credentials gain a write-only `value`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from common.config.models import COLLECTIONS, IDENT, Record

# Credential ids become Secret Manager ids (`{tenant}__cred__{id}`): no underscores.
CREDENTIAL_ID = r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$"
_READ_ONLY: dict[str, frozenset[str]] = {
    "assistants": frozenset({"created_at", "updated_at"}),
    "credentials": frozenset({"last4", "secret_version", "host", "host_proof"}),
}
_ID_PREFIX = {
    "apps": "app",
    "providers": "prov",
    "models": "model",
    "credentials": "cred",
    "assistants": "asst",
    "tools": "tool",
}
_SINGULAR = {
    "apps": "App",
    "providers": "Provider",
    "models": "Model",
    "credentials": "Credential",
    "assistants": "Assistant",
    "tools": "Tool",
}


def _strip_defaults(schema: dict[str, Any], _cls: Any = None) -> None:
    """A PATCH field is optional because absent means "unchanged", not because it has a default."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def _annotated(field: Any) -> Any:
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


@dataclass(frozen=True)
class CollectionModels:
    name: str
    path: str  # URL segment
    record: type[Record]
    create: type[BaseModel]
    patch: type[BaseModel]
    read_only: frozenset[str]

    @property
    def singular(self) -> str:
        return _SINGULAR[self.name]

    def new_id(self) -> str:
        return f"{_ID_PREFIX[self.name]}-{secrets.token_hex(6)}"


def _value_field(required: bool = True) -> tuple[Any, Any]:
    # The default must be given to `Field` itself: setting it on the FieldInfo afterwards
    # left PATCH requiring `value`, so a rename or deactivation meant resending the key.
    return (
        str if required else str | None,
        Field(
            ... if required else None,
            min_length=1,
            max_length=8192,
            description="the provider API key; stored in the secrets backend, never returned",
            json_schema_extra={"writeOnly": True},
        ),
    )


def _derive(name: str, record: type[Record]) -> CollectionModels:
    read_only = _READ_ONLY.get(name, frozenset())
    create_fields: dict[str, Any] = {}
    patch_fields: dict[str, Any] = {}
    id_pattern = CREDENTIAL_ID if name == "credentials" else IDENT
    create_fields["id"] = (str, Field(default=None, pattern=id_pattern, description="generated when absent"))
    for field_name, field in record.model_fields.items():
        if field_name == "id" or field_name in read_only:
            continue
        create_fields[field_name] = (_annotated(field), field)
        patch_fields[field_name] = (_annotated(field), Field(default=None, description=field.description))
    if name == "credentials":
        create_fields["value"] = _value_field()
        patch_fields["value"] = _value_field(required=False)
    singular = _SINGULAR[name]
    create = create_model(f"{singular}Create", __config__=ConfigDict(extra="forbid"), **create_fields)
    patch = create_model(
        f"{singular}Patch",
        __config__=ConfigDict(extra="forbid", json_schema_extra=_strip_defaults),
        **patch_fields,
    )
    return CollectionModels(name, name.replace("_", "-"), record, create, patch, read_only)


MODELS: dict[str, CollectionModels] = {name: _derive(name, rec) for name, rec in COLLECTIONS.items()}
