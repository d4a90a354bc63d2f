"""The Chat Completions wire format (OpenAI and every `openai_compatible` server), shared by
both OpenAI adapters: the request body we send and the events we read from its chunks.

Both adapters (`openai_wire`, the default, and `openai`, the official SDK) build the same
body with `params` and turn the same plain-dict chunks into provider events with
`ChunkReader`, so switching `PROVIDER_HTTP_CLIENT` changes the HTTP client, never what is
sent or understood. Imports no SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    function_tools,
)

# Passed explicitly so no client falls back to OPENAI_BASE_URL from the environment.
DEFAULT_BASE_URL = "https://api.openai.com/v1"

_FINISH_REASON_MAP: dict[str, Literal["stop", "tool_calls", "length", "content_filter", "other"]] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


def _messages(request: ProviderRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for msg in request.messages:
        if msg.role == "assistant" and msg.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    # OpenAI wants null rather than "" next to tool calls.
                    "content": msg.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in msg.tool_calls
                    ],
                }
            )
        elif msg.role == "tool":
            out.append({"role": "tool", "tool_call_id": msg.tool_call_id or "", "content": msg.content})
        elif msg.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": msg.content}] if msg.content else []
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in msg.images]
            out.append({"role": msg.role, "content": parts})
        else:
            out.append({"role": msg.role, "content": msg.content})
    return out


def _tool_choice(request: ProviderRequest) -> Any:
    if request.tool_choice_function:
        return {"type": "function", "function": {"name": request.tool_choice_function}}
    return request.tool_choice


def params(request: ProviderRequest, max_tokens_field: str = "max_completion_tokens") -> dict[str, Any]:
    """The request body. Always streamed: one code path serves streaming and `complete()`,
    and usage arrives in the final chunk (`stream_options.include_usage`). OpenAI's
    reasoning models reject `max_tokens`; most compatible servers only know it."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = function_tools(request, strict=True)
        if request.tool_choice or request.tool_choice_function:
            body["tool_choice"] = _tool_choice(request)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_output_tokens is not None:
        body[max_tokens_field] = request.max_output_tokens
    if request.response_format:
        body["response_format"] = request.response_format
    if request.stop:
        body["stop"] = list(request.stop)
    optional = {
        "seed": request.seed,
        "top_p": request.top_p,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
    return body


class _ToolCallBuffer:
    """Streamed tool calls arrive as fragments keyed by index; the id and name come first."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragment: dict[str, Any]) -> None:
        slot = self._calls.setdefault(fragment.get("index", 0), {"id": None, "name": "", "args": []})
        if fragment.get("id"):
            slot["id"] = fragment["id"]
        fn = fragment.get("function")
        if fn:
            if fn.get("name"):
                slot["name"] += fn["name"]
            if fn.get("arguments"):
                slot["args"].append(fn["arguments"])

    def drain(self) -> list[ToolCall]:
        calls = [
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments="".join(slot["args"]))
            for index, slot in sorted(self._calls.items())
        ]
        self._calls.clear()
        return calls


class ChunkReader:
    """`chat.completion.chunk` dicts in, provider events out; `end()` after the last chunk."""

    def __init__(self) -> None:
        self._tools = _ToolCallBuffer()
        self._finish: str | None = None
        self._usage: UsageEvent | None = None

    def feed(self, chunk: dict[str, Any]) -> Iterator[ProviderEvent]:
        if chunk.get("usage"):
            u = chunk["usage"]
            self._usage = UsageEvent(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta")
            if delta:
                if delta.get("content"):
                    logprobs = (choice.get("logprobs") or {}).get("content") or ()
                    yield TextDelta(delta["content"], logprobs=tuple(logprobs))
                for fragment in delta.get("tool_calls") or ():
                    self._tools.add(fragment)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
                for call in self._tools.drain():
                    yield ToolCallEvent(call)

    def end(self) -> Iterator[ProviderEvent]:
        if self._finish is None:
            # The body ended cleanly but without a finish reason: a proxy cut the
            # stream. Never report that as a normal reply.
            raise ProviderCallError("openai stream ended before a finish reason", connection=True)
        if self._usage is not None:
            yield self._usage
        yield FinishEvent(_FINISH_REASON_MAP.get(self._finish, "other"))


def completion_as_chunk(body: dict[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion` (from a server that ignored `stream: true`) as one chunk."""
    choices = []
    for choice in (body.get("choices") or [])[:1]:
        message = choice.get("message") or {}
        calls = [{**c, "index": i} for i, c in enumerate(message.get("tool_calls") or ())]
        delta = {"content": message.get("content"), "tool_calls": calls}
        choices.append({**choice, "delta": delta})
    return {"choices": choices, "usage": body.get("usage")}
