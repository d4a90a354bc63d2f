"""Assistant actions: specialised endpoints defined as data, not code.

An action has an input JSON Schema and a template; `{field}` placeholders are
filled from the validated input (objects and lists as JSON) and the result is
sent as the user's message of a normal chat turn. Nothing but named
placeholders is interpreted, so input cannot reach attributes or code.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.config.models import Action, Assistant
from common.errors import NotFound, ValidationFailed

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(default_factory=dict)
    thread_id: str | None = Field(default=None, min_length=1, max_length=128)
    stream: bool | None = None


def find_action(assistant: Assistant, name: str) -> Action:
    action = assistant.actions.get(name)
    if action is None:
        raise NotFound("action not found")
    return action


async def validate_input(action: Action, data: dict[str, Any]) -> None:
    """422 naming the first bad field of `input`; the tenant's schema runs off the event loop,
    with RE2 patterns, no remote `$ref` and a time limit (`common.tools.safe_schema`)."""
    from common.settings import get_settings
    from common.tools import safe_schema

    try:
        errors = await safe_schema.validate_async(
            action.input_schema, data, timeout_s=get_settings().schema_timeout_s
        )
    except safe_schema.SchemaUnusable as exc:
        raise ValidationFailed(f"input: cannot be checked: {exc}", field="input") from None
    error = errors[0] if errors else None
    if error is not None:
        field = ".".join(["input", *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = next((r for r in error.validator_value if r not in error.instance), "")
            field = f"{field}.{missing}"
        raise ValidationFailed(f"{field}: {error.message}", field=field)


def render(template: str, data: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        item = data.get(match.group(1), "")
        return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)

    return _PLACEHOLDER.sub(value, template)


def public_assistant(assistant: Assistant) -> dict[str, Any]:
    """What a client key may see: never the prompt, model, provider, key or config."""
    return {
        "id": assistant.id,
        "slug": assistant.slug,
        "name": assistant.name,
        "description": assistant.description,
        "is_streaming": assistant.is_streaming,
        "actions": {
            name: {"description": a.description, "input_schema": a.input_schema}
            for name, a in sorted(assistant.actions.items())
        },
    }
