"""How chat reads the sandbox's NDJSON body: lines split across and within chunks, a bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.providers import code
from common.sandbox.protocol import SandboxError


class _Body:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = self
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


async def _lines(chunks: list[bytes]) -> list[bytes]:
    body: Any = _Body(chunks)
    return [line async for line in code._lines(body)]


async def test_lines_come_out_whole_however_the_body_is_chunked() -> None:
    assert await _lines([b'{"a"', b":1}\n{", b'"b":2}\n\n{"c":3}\n{"d"', b":4}"]) == [
        b'{"a":1}',
        b'{"b":2}',
        b"",
        b'{"c":3}',
        b'{"d":4}',
    ]


async def test_a_line_over_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code, "MAX_LINE_BYTES", 10)
    assert await _lines([b"12345\n", b"1234567890\n"]) == [b"12345", b"1234567890"]
    with pytest.raises(SandboxError):
        await _lines([b"12345", b"67890", b"1"])
