"""Lines of a streamed HTTP body as they arrive, with a bound on what is buffered.

aiohttp's own `readline` refuses lines over 64 KiB (its high-water mark), and a streamed
reply's single line can be larger (a long delta, a big tool-call argument); an upstream
that never sends a newline must not grow our buffer without bound either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


class LineTooLong(Exception):
    pass


async def body_lines(resp: Any, max_bytes: int) -> AsyncIterator[bytes]:
    """`resp.content`'s lines without their `\\n`; LineTooLong past `max_bytes` unsplit."""
    buffer = bytearray()
    async for chunk in resp.content.iter_any():
        start = len(buffer)
        buffer += chunk
        end = buffer.find(b"\n", start)
        while end >= 0:
            yield bytes(buffer[:end])
            del buffer[: end + 1]
            end = buffer.find(b"\n")
        if len(buffer) > max_bytes:
            raise LineTooLong(f"a line over {max_bytes} bytes")
    if buffer:
        yield bytes(buffer)
