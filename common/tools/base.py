"""What every tool shares: the server-bound context, the outcome the model sees, result text.

A tool never fails a turn: whatever goes wrong (bad arguments, an exception,
a timeout, a refused URL) becomes a `ToolOutcome` with `is_error=True`, whose
text goes back to the model so it can correct itself or explain the failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common.providers.base import ToolCall

# A tool result is sent back to the model on every later round and stored in
# the thread: cap it so one chatty tool cannot blow the context window.
MAX_RESULT_CHARS = 16_000
TRUNCATION_MARK = "\n...[truncated]"


@dataclass(frozen=True)
class ToolContext:
    """Who is calling, bound by the server; a tool asks for it by annotating a parameter.

    The parameter is left out of the schema the model sees, and anything the
    model sends under that name is dropped: the ids come from the turn, never
    from the model's arguments. It carries no credentials.
    """

    tenant: str
    app_id: str
    assistant_id: str
    thread_id: str
    request_id: str = ""
    call_id: str = ""


class ToolError(Exception):
    """Raise from a tool to send exactly this message back to the model as an error result."""


@dataclass(frozen=True)
class ToolOutcome:
    call: ToolCall
    result: str
    is_error: bool = False


def truncate(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


def result_text(value: Any) -> str:
    """A tool's return value as the text the model reads: strings as-is, the rest as JSON."""
    if isinstance(value, str):
        return truncate(value)
    from pydantic_core import to_json

    try:
        text = to_json(value).decode()
    except Exception:  # not JSON-serialisable: fall back to its text form
        text = json.dumps(str(value))
    return truncate(text)


def error(call: ToolCall, message: str) -> ToolOutcome:
    return ToolOutcome(call, truncate(f"Error: {message}"), is_error=True)


def parse_arguments(call: ToolCall) -> dict[str, Any] | ToolOutcome:
    """The model's JSON arguments as an object, or the error outcome that tells it why not."""
    raw = call.arguments.strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return error(
            call, f"the arguments are not valid JSON ({exc}). Call {call.name} again with a JSON object."
        )
    if not isinstance(value, dict):
        return error(call, f"the arguments must be a JSON object, not {type(value).__name__}.")
    return value
