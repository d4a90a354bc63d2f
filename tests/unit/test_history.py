from common.chat.history import context_budget, estimate_tokens, fit, to_chat_message
from common.providers.base import ChatMessage, ToolCall


def msg(role, text):
    return ChatMessage(role=role, content=text)


def test_fit_keeps_the_newest_messages_that_fit():
    history = [
        msg("user", "a" * 300),
        msg("assistant", "b" * 300),
        msg("user", "c" * 30),
        msg("assistant", "d" * 30),
    ]
    kept = fit(history, budget_tokens=estimate_tokens("c" * 30) + estimate_tokens("d" * 30))
    assert [m.content[0] for m in kept] == ["c", "d"]


def test_fit_never_starts_on_an_assistant_or_tool_message():
    history = [
        msg("user", "x" * 600),
        msg("assistant", "y"),
        msg("tool", "z"),
        msg("user", "q"),
        msg("assistant", "r"),
    ]
    kept = fit(history, budget_tokens=50)
    assert kept[0].role == "user" and kept[0].content == "q"


def test_fit_with_no_budget_keeps_nothing():
    assert fit([msg("user", "hello")], budget_tokens=0) == []


def test_context_budget_reserves_output_and_prompt():
    assert context_budget(1000, 200, "", "") == 1000 - 200 - 8
    assert context_budget(100, 500, "sys", "hi") == 0


def test_to_chat_message_restores_tool_calls_and_skips_unknown_roles():
    stored = {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "name": "f", "arguments": "{}"}]}
    assert to_chat_message(stored) == ChatMessage(role="assistant", tool_calls=(ToolCall("1", "f", "{}"),))
    assert to_chat_message({"role": "system", "content": "x"}) is None
