"""Turning stored messages into the model's context, trimmed to fit its window."""

from __future__ import annotations

from typing import Any

from common.providers.base import ChatMessage, ToolCall


def estimate_tokens(text: str) -> int:
    # ~4 characters per token is the usual rule of thumb across these vendors;
    # we only need a safe upper bound to stay inside the context window.
    return len(text) // 3 + 4


def to_chat_message(stored: dict[str, Any]) -> ChatMessage | None:
    role = stored.get("role")
    if role not in ("user", "assistant", "tool"):
        return None
    calls = tuple(
        ToolCall(
            id=str(c.get("id", "")), name=str(c.get("name", "")), arguments=str(c.get("arguments", "{}"))
        )
        for c in stored.get("tool_calls") or []
    )
    return ChatMessage(
        role=role,
        content=str(stored.get("content") or ""),
        tool_calls=calls,
        tool_call_id=stored.get("tool_call_id"),
        name=stored.get("name"),
    )


def fit(messages: list[ChatMessage], budget_tokens: int) -> list[ChatMessage]:
    """Keep the newest messages that fit; never start on an orphaned tool result."""
    kept: list[ChatMessage] = []
    used = 0
    for msg in reversed(messages):
        cost = estimate_tokens(msg.content) + sum(estimate_tokens(c.arguments) for c in msg.tool_calls)
        if used + cost > budget_tokens:
            break
        kept.append(msg)
        used += cost
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def context_budget(max_tokens: int, max_output: int | None, system: str, user_text: str) -> int:
    reserve = max_output or min(4096, max_tokens // 4)
    return max(0, max_tokens - reserve - estimate_tokens(system) - estimate_tokens(user_text))
