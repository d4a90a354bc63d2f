"""Stored histories with tools become valid vendor histories: each call answered right after it."""

from __future__ import annotations

from common.chat.history import MISSING_RESULT, fit, pair_tool_messages
from common.providers.base import ChatMessage, ToolCall


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def calls(*ids: str) -> ChatMessage:
    return ChatMessage(role="assistant", tool_calls=tuple(ToolCall(i, f"tool_{i}", "{}") for i in ids))


def result(call_id: str, text: str = "ok") -> ChatMessage:
    return ChatMessage(role="tool", content=text, tool_call_id=call_id, name=f"tool_{call_id}")


def answer(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


def shape(messages: list[ChatMessage]) -> list[str]:
    return [
        m.content if m.role in ("user", "assistant") and not m.tool_calls else m.tool_call_id or "calls"
        for m in messages
    ]


def test_a_complete_exchange_is_unchanged():
    history = [user("q"), calls("a", "b"), result("a"), result("b"), answer("done")]
    assert pair_tool_messages(history) == history


def test_a_concurrent_user_message_between_call_and_results_moves_after_them():
    history = [user("q1"), calls("a"), user("q2"), result("a"), answer("a1"), answer("a2")]
    assert shape(pair_tool_messages(history)) == ["q1", "calls", "a", "q2", "a1", "a2"]


def test_results_in_another_order_follow_the_call_order():
    history = [user("q"), calls("a", "b"), result("b", "B"), result("a", "A")]
    assert [m.content for m in pair_tool_messages(history)[2:]] == ["A", "B"]


def test_an_interrupted_call_gets_an_error_result_and_orphans_are_dropped():
    history = [result("old"), user("q"), calls("a", "b"), result("a"), user("next")]
    paired = pair_tool_messages(history)
    assert shape(paired) == ["q", "calls", "a", "b", "next"]
    assert paired[3].content == MISSING_RESULT and paired[3].name == "tool_b"


def test_repeated_gemini_style_ids_pair_within_their_own_round():
    history = [
        user("q"),
        calls("call_0"),
        result("call_0", "first"),
        calls("call_0"),
        result("call_0", "second"),
    ]
    assert [m.content for m in pair_tool_messages(history) if m.role == "tool"] == ["first", "second"]


def test_fit_keeps_exchanges_whole_by_starting_on_a_user_message():
    history = pair_tool_messages(
        [user("x" * 400), calls("a"), result("a", "y" * 400), user("q"), calls("b"), result("b"), answer("z")]
    )
    kept = fit(history, budget_tokens=60)
    assert shape(kept) == ["q", "calls", "b", "z"]
