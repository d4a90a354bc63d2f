"""Pure parts of the leased limits and budgets: block sizing and the prompt's token bound."""

from common.chat.budget import prompt_bound
from common.chat.leases import Pool
from common.providers.base import ChatMessage, ProviderRequest, ToolCall


def test_block_is_at_least_what_the_request_needs_and_at_most_a_tenth_of_the_limit():
    pool = Pool()
    assert pool.block(1, 100) == 1  # nothing seen yet: lease one
    pool.rate = 50.0  # a busy key: two seconds' worth, capped at a tenth of the limit
    assert pool.block(1, 100) == 10
    assert pool.block(1, 10_000) == 101
    assert pool.block(40, 100) == 40


def test_prompt_bound_is_never_below_the_utf8_size():
    request = ProviderRequest(
        model="m",
        system="système",
        messages=(
            ChatMessage(role="user", content="héllo " * 10),
            ChatMessage(role="assistant", tool_calls=(ToolCall("1", "lookup", '{"q": "é"}'),)),
        ),
    )
    text_bytes = (
        len("système".encode()) + len(("héllo " * 10).encode()) + len("lookup") + len('{"q": "é"}'.encode())
    )
    assert prompt_bound(request) >= text_bytes
