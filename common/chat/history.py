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


MISSING_RESULT = "Error: no result was recorded for this call (the turn was interrupted)."


def pair_tool_messages(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Put each tool call's result right after it; drop results whose call is gone.

    Every vendor rejects a history with an unanswered tool call or a result
    that answers nothing, and stored order can break that: a concurrent turn's
    user message may land between a call and its results, an interrupted turn
    may have stored a call without results, and the history window may start
    after a call. Results are looked up between the call and the next message
    that makes calls (ids repeat across rounds with Gemini's `call_{n}`).
    """
    out: list[ChatMessage] = []
    used: set[int] = set()
    for i, msg in enumerate(messages):
        if i in used or msg.role == "tool":
            continue  # an orphaned result, or one already placed after its call
        out.append(msg)
        if msg.role != "assistant" or not msg.tool_calls:
            continue
        wanted = {c.id for c in msg.tool_calls}
        found: dict[str, ChatMessage] = {}
        for j in range(i + 1, len(messages)):
            later = messages[j]
            if later.role == "assistant" and later.tool_calls:
                break
            if later.role == "tool" and later.tool_call_id in wanted and later.tool_call_id not in found:
                found[later.tool_call_id] = later
                used.add(j)
        for call in msg.tool_calls:
            out.append(
                found.get(call.id)
                or ChatMessage(role="tool", content=MISSING_RESULT, tool_call_id=call.id, name=call.name)
            )
    return out


def fit(messages: list[ChatMessage], budget_tokens: int) -> list[ChatMessage]:
    """Keep the newest messages that fit, starting on a user message.

    Starting on a user message also keeps tool exchanges whole: once
    `pair_tool_messages` has run, a call and its results are adjacent and
    always follow the user message that led to them.
    """
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
