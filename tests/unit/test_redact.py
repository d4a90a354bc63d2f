"""Provider keys never survive into error text (SPEC §8: Gemini puts its key in URLs)."""

from __future__ import annotations

from common.providers.base import redact, transport_error

KEY = "sk-canary-123456789"


def test_redact_removes_the_key_everywhere() -> None:
    text = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"

    out = redact(text, KEY)

    assert KEY not in out
    assert out.count("[REDACTED]") == 2


def test_redact_removes_key_url_parameters_even_without_the_secret() -> None:
    url = "https://generativelanguage.googleapis.com/v1beta/models/x:streamGenerateContent?alt=sse&key=AIzaOther"

    out = redact(f"error calling {url}")

    assert "AIzaOther" not in out
    assert "key=[REDACTED]" in out
    assert "alt=sse" in out


def test_redact_handles_query_start_and_other_spellings() -> None:
    out = redact("GET /x?key=abc123&api_key=def456&apikey=ghi789&keep=1")

    assert "abc123" not in out and "def456" not in out and "ghi789" not in out
    assert "keep=1" in out


def test_redact_ignores_missing_or_tiny_secrets() -> None:
    assert redact("a b c", None, "", "b") == "a b c"


def test_transport_errors_are_redacted_and_classified() -> None:
    class ReadTimeout(Exception):
        __module__ = "httpx"

    class RemoteProtocolError(Exception):
        __module__ = "httpx"

    timeout = transport_error(ReadTimeout(f"timed out on https://h/?key={KEY}"), KEY, vendor="gemini")
    reset = transport_error(RemoteProtocolError("peer closed connection"), KEY)

    assert timeout is not None and timeout.timeout and not timeout.connection
    assert KEY not in str(timeout)
    assert reset is not None and reset.connection and not reset.timeout
    assert transport_error(ValueError("not a transport problem")) is None
