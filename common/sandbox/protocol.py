"""The JSON messages chat/admin and the sandbox speak, on both hops.

Caller -> sandbox (`POST /sandbox`, one JSON body) -> child process (one line on
stdin): `{"action", "code", "request", "config", "key"}`.

- `action`: `stream` (call the module's `stream(request)`) or `validate` (call the
  validation code's `validate(config)`).
- `request`: the `ProviderRequest` serialised generically with
  `dataclasses.asdict`, so fields another module adds to it flow through
  without edits here.
- `config`: the provider's non-secret config values (plus `base_url`).
- `key`: the one provider key of this call. It travels only in this body and on
  the child's stdin, never in an environment.

Sandbox -> caller, and child -> sandbox: one JSON event per line (NDJSON), as
produced: `text_delta {text}`, `tool_call {id, name, arguments}`, `usage
{input_tokens, output_tokens}`, `finish {reason}`, `ok` (validate succeeded) or
`error {error_type, message, line}`. `line` is the line in the operator's code
where it failed, when known. Error types: `code_error` (the code raised),
`upstream` (the code raised `ProviderError`, with `status`), `timeout`,
`cpu_limit`, `memory_limit`, `output_limit`, `process_limit`, `crashed`,
`protocol` (the code broke the protocol), `busy`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from common.providers.base import (
    FinishEvent,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    UsageEvent,
)

Action = Literal["stream", "validate"]
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "other"})
# Error types that are the sandbox enforcing a limit (the operator's code misbehaved).
LIMIT_ERRORS = frozenset({"timeout", "cpu_limit", "memory_limit", "output_limit", "process_limit"})


_PUBLIC = {
    "timeout": "the sandbox's wall-clock limit",
    "cpu_limit": "the sandbox's CPU limit",
    "memory_limit": "the sandbox's memory limit",
    "process_limit": "the sandbox's process limit",
    "output_limit": "the sandbox's output limit",
    "code_error": "an error in the code",
    "upstream_timeout": "the upstream timed out",
    "crashed": "the code's process died",
    "protocol": "the code broke the event protocol",
    "busy": "the sandbox is busy",
    "unreachable": "the sandbox is unreachable",
}


def call_body(
    action: Action, code: str, request: ProviderRequest | None, config: dict[str, Any], key: str
) -> dict[str, Any]:
    return {
        "action": action,
        "code": code,
        "request": dataclasses.asdict(request) if request is not None else None,
        "config": config,
        "key": key,
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def error(error_type: str, message: str, line: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error_type": error_type, "message": message, "line": line, **extra}


class SandboxError(ProviderCallError):
    """A failure reported by the sandbox: the operator's code, a limit, or the sandbox itself."""

    def __init__(self, error_type: str, message: str, *, line: int | None = None, status: int | None = None):
        timeout = error_type == "timeout"
        retryable_status = status if error_type == "upstream" else None
        super().__init__(
            message,
            status=retryable_status,
            timeout=timeout,
            connection=error_type in ("busy", "unreachable"),
        )
        self.error_type = error_type
        self.line = line

    @property
    def public(self) -> str:
        """What a chat caller may see: the kind of failure and the line, never the code's text
        (which may quote an upstream body); operators see the full message in the test."""
        where = f" at line {self.line}" if self.line else ""
        if self.error_type == "upstream":
            return (
                f"code provider: upstream status {self.status}"
                if self.status
                else "code provider: upstream failed"
            )
        return f"code provider: {_PUBLIC.get(self.error_type, 'sandbox failure')}{where}"

    @property
    def retryable(self) -> bool:
        """Limits and code errors are not retried (the same code would fail again); a busy or
        unreachable sandbox and a transient upstream status are."""
        if self.error_type in ("busy", "unreachable"):
            return True
        return self.error_type == "upstream" and (self.status == 429 or (self.status or 0) >= 500)


def to_event(data: dict[str, Any]) -> ProviderEvent | None:
    """One decoded line as a provider event; `error` raises; `ok` and unknown kinds give None."""
    kind = data.get("type")
    if kind == "text_delta":
        return TextDelta(str(data.get("text", "")))
    if kind == "tool_call":
        args = data.get("arguments", "")
        return ToolCallEvent(
            ToolCall(
                id=str(data.get("id") or ""),
                name=str(data.get("name") or ""),
                arguments=args if isinstance(args, str) else json.dumps(args),
            )
        )
    if kind == "usage":
        return UsageEvent(int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0))
    if kind == "finish":
        reason = data.get("reason")
        return FinishEvent(reason if reason in FINISH_REASONS else "other")
    if kind == "error":
        line = data.get("line")
        status = data.get("status")
        message = str(data.get("message") or "the provider code failed")
        if isinstance(line, int):
            message += f" (line {line} of the provider code)"
        raise SandboxError(
            str(data.get("error_type") or "code_error"),
            message,
            line=line if isinstance(line, int) else None,
            status=status if isinstance(status, int) else None,
        )
    return None
