"""Server-Sent Events framing (SPEC §6): one `event:` + `data:` block per event."""

from __future__ import annotations

from typing import Any

from common.http.responses import dumps

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # proxies must not buffer the stream
    "Connection": "keep-alive",
}


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def sse_data(data: Any) -> bytes:
    """An unnamed event, as OpenAI-compatible clients expect."""
    payload = data if isinstance(data, bytes) else dumps(data)
    return b"data: " + payload + b"\n\n"
