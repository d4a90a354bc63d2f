"""OpenAI's `response_format`, validated once and shared by the OpenAI-compatible
endpoint, native `POST /chat` and the assistant setting.

The schema is passed through, not compiled: each provider enforces it (OpenAI
natively, Cohere's `response_format.json_schema`, Gemini's
`responseJsonSchema`), so no untrusted schema runs on the event loop here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=4096)
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is required with type json_schema, and only with it")
        return self

    def wire(self) -> dict[str, Any] | None:
        """OpenAI's wire shape; None for plain text (the default, nothing to ask for)."""
        if self.type == "text":
            return None
        return self.model_dump(by_alias=True, exclude_none=True)


def normalized(value: Any) -> dict[str, Any] | None:
    """A raw `response_format` value checked and in wire shape (raises ValueError)."""
    if value is None:
        return None
    if isinstance(value, ResponseFormat):
        return value.wire()
    return ResponseFormat.model_validate(value).wire()
