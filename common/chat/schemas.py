"""Request bodies of start and chat, validated at the edge (unknown fields are 422)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.errors import PayloadTooLarge
from common.providers.response_format import ResponseFormat
from common.settings import get_settings
from common.store.storable import check_storable


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """Storable by Firestore and at most `MAX_METADATA_BYTES` (16 KiB) as JSON: a thread's
    metadata is stored with it, so a big one costs the platform on every thread."""
    check_storable(value, "metadata")
    limit = get_settings().max_metadata_bytes
    if value and len(json.dumps(value, ensure_ascii=False).encode()) > limit:
        raise PayloadTooLarge(f"metadata: over {limit} bytes as JSON", field="metadata")
    return value


class StartRequest(_Body):
    assistant: str | None = Field(default=None, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)

    _metadata = field_validator("metadata")(_storable_metadata)


class ChatRequest(_Body):
    thread_id: str = Field(min_length=1, max_length=128)
    message: str
    stream: bool | None = None
    # OpenAI's shape; overrides the assistant's `response_format` for this turn.
    response_format: ResponseFormat | None = None


class AppChatRequest(_Body):
    message: str
    thread_id: str | None = Field(default=None, min_length=1, max_length=128)
    stream: bool | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    response_format: ResponseFormat | None = None

    _metadata = field_validator("metadata")(_storable_metadata)
