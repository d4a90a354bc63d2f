"""OpenAI Chat Completions (and every `openai_compatible` server) behind the provider contract.

The upstream is always called with `stream=True`: one code path serves both
streaming and `complete()`, and usage arrives in the final chunk thanks to
`stream_options.include_usage`. The SDK's own retries are off (`max_retries=0`)
because `common.providers.resilience` owns retry and fallback policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

from common.lazy_init import deferred_inits

# The SDK's `types` packages re-export ~370 pydantic modules on import; the
# client needs a few of them. See common/lazy_init.py.
with deferred_inits("openai.types", "openai.types.responses"):
    import openai

from common.providers.base import (
    FinishEvent,
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    UsageEvent,
    call_error,
    function_tools,
    is_timeout,
    redact,
)
from common.providers.tls import httpx2_context

_TLS = httpx2_context()  # at import, which `registry.preload` runs off the event loop (tls.py)

HttpClientKind = Literal["aiohttp", "httpx"]

# Passed explicitly so the SDK never falls back to OPENAI_BASE_URL from the environment.
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


class OpenAIAdapter:
    """One authenticated `AsyncOpenAI` client, reused for every request with this key."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None,
        timeout: float,
        *,
        http_client: HttpClientKind = "aiohttp",
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        self._api_key = api_key
        # OpenAI's reasoning models reject `max_tokens`; most compatible servers only know it.
        self._max_tokens_field = max_tokens_field
        transport = (
            openai.DefaultAioHttpClient(verify=_TLS)
            if http_client == "aiohttp"
            else openai.DefaultAsyncHttpxClient(verify=_TLS)
        )
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=timeout,
            max_retries=0,
            http_client=transport,
        )

    def _error(self, exc: Exception) -> ProviderCallError:
        key = self._api_key
        if isinstance(exc, openai.APIStatusError):
            return call_error(
                "openai", exc, key, status=exc.status_code, detail=exc.message, headers=exc.response.headers
            )
        if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
            timed_out = is_timeout(exc)
            cause = exc.__cause__ or exc
            detail = redact(f"{type(cause).__name__}: {cause}", key)
            return ProviderCallError(
                f"openai {'timed out' if timed_out else 'connection failed'}: {detail}",
                timeout=timed_out,
                connection=not timed_out,
            )
        return call_error("openai", exc, key)

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": _messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = function_tools(request, strict=True)
            if request.tool_choice or request.tool_choice_function:
                params["tool_choice"] = _tool_choice(request)
            if request.parallel_tool_calls is not None:
                params["parallel_tool_calls"] = request.parallel_tool_calls
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            params[self._max_tokens_field] = request.max_output_tokens
        if request.response_format:
            params["response_format"] = request.response_format
        if request.stop:
            params["stop"] = list(request.stop)
        optional = {
            "seed": request.seed,
            "top_p": request.top_p,
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
            "user": request.user,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if request.logprobs:
            params["logprobs"] = True
            if request.top_logprobs is not None:
                params["top_logprobs"] = request.top_logprobs
        return params

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        tools = _ToolCallBuffer()
        finish: str | None = None
        usage: UsageEvent | None = None
        try:
            # `client.post` (the SDK's documented path for raw calls) with chunks as plain
            # dicts: the SDK still authenticates, maps errors and parses SSE (`[DONE]`,
            # in-stream errors), but skips its request transform and the pydantic object
            # per chunk, which were most of the adapter's CPU per turn.
            upstream = await self._client.post(
                "/chat/completions",
                body=self._params(request),
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async with upstream:  # closes the response even when our caller stops early
                async for item in upstream:
                    chunk: dict[str, Any] = item if isinstance(item, dict) else {}
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = UsageEvent(u.get("prompt_tokens") or 0, u.get("completion_tokens") or 0)
                    for choice in (chunk.get("choices") or [])[:1]:
                        delta = choice.get("delta")
                        if delta:
                            if delta.get("content"):
                                logprobs = (choice.get("logprobs") or {}).get("content") or ()
                                yield TextDelta(delta["content"], logprobs=tuple(logprobs))
                            for fragment in delta.get("tool_calls") or ():
                                tools.add(fragment)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                            for call in tools.drain():
                                yield ToolCallEvent(call)
        except ProviderCallError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if finish is None:
            # The body ended cleanly but without a finish reason: a proxy cut the
            # stream. Never report that as a normal reply.
            raise ProviderCallError("openai stream ended before a finish reason", connection=True)
        if usage is not None:
            yield usage
        yield FinishEvent(_FINISH_REASON_MAP.get(finish, "other"))

    async def aclose(self) -> None:
        await self._client.close()
