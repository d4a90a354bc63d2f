"""Cohere Chat v2 (`AsyncClientV2.chat_stream`) behind the provider contract.

Cohere's v2 messages look like OpenAI's (roles system/user/assistant/tool,
`tool_calls`, `tool_call_id`), but its stream is typed events:
`content-delta`, `tool-call-start/delta/end`, `message-end` with the finish
reason and usage. The SDK's own retries are off (`max_retries=0`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any, Literal, cast

import httpx
from cohere import AsyncClientV2  # lazy in the SDK (~500 ms): import it with this module
from cohere.core.api_error import ApiError

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
    json_schema_of,
    redact,
    wants_json,
)
from common.providers.tls import httpx_context

_TLS = httpx_context()  # at import, which `registry.preload` runs off the event loop (tls.py)

_FINISH_REASON_MAP: dict[str, Literal["stop", "tool_calls", "length", "content_filter", "other"]] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}


def _messages(request: ProviderRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for msg in request.messages:
        if msg.role == "assistant" and msg.tool_calls:
            item: dict[str, Any] = {
                "role": "assistant",
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in msg.tool_calls
                ],
            }
            if msg.content:
                item["content"] = msg.content
            out.append(item)
        elif msg.role == "tool":
            out.append({"role": "tool", "tool_call_id": msg.tool_call_id or "", "content": msg.content})
        elif msg.images:  # Cohere v2's vision models take OpenAI-style image_url parts
            parts: list[dict[str, Any]] = [{"type": "text", "text": msg.content}] if msg.content else []
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in msg.images]
            out.append({"role": msg.role, "content": parts})
        else:
            out.append({"role": msg.role, "content": msg.content})
    return out


def _tools(request: ProviderRequest) -> dict[str, Any]:
    """Cohere has REQUIRED and NONE but no named choice: a named function is offered alone,
    with REQUIRED, which forces exactly that call."""
    if not request.tools:
        return {}
    named = request.tool_choice_function
    tools = function_tools(
        replace(request, tools=tuple(t for t in request.tools if t.name == named)) if named else request
    )
    out: dict[str, Any] = {"tools": tools}
    if named or request.tool_choice == "required":
        out["tool_choice"] = "REQUIRED"
    elif request.tool_choice == "none":
        out["tool_choice"] = "NONE"
    if any(t.strict for t in request.tools):
        out["strict_tools"] = True
    return out


def _response_format(request: ProviderRequest) -> dict[str, Any] | None:
    if not wants_json(request):
        return None
    schema = json_schema_of(request)
    return {"type": "json_object", **({"json_schema": schema} if schema is not None else {})}


def _usage(usage: Any) -> UsageEvent | None:
    """Billed units are what Cohere charges; `tokens` (which counts its prompt template) is the fallback."""
    if usage is None:
        return None
    for counts in (usage.billed_units, usage.tokens):
        if counts is not None and (counts.input_tokens is not None or counts.output_tokens is not None):
            return UsageEvent(int(counts.input_tokens or 0), int(counts.output_tokens or 0))
    return None


class CohereAdapter:
    """One authenticated `AsyncClientV2`, reused for every request with this key."""

    def __init__(self, api_key: str, base_url: str | None, timeout: float) -> None:
        self._api_key = api_key
        # base_url None means Cohere's production endpoint; the SDK appends "v2/chat".
        # Our own httpx client only to share the TLS context (tls.py); same timeout as the SDK's.
        self._httpx = httpx.AsyncClient(timeout=timeout, follow_redirects=True, verify=_TLS)
        self._client = AsyncClientV2(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            log_warning_experimental_features=False,
            httpx_client=self._httpx,
        )

    def _error(self, exc: Exception) -> ProviderCallError:
        if isinstance(exc, ApiError):
            # str(ApiError) dumps the response headers too; the body is what matters.
            status = exc.status_code
            return call_error(
                "cohere", exc, self._api_key, status=status, detail=exc.body, headers=exc.headers
            )
        return call_error("cohere", exc, self._api_key)

    def _params(self, request: ProviderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": request.model, "messages": _messages(request), **_tools(request)}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            params["max_tokens"] = request.max_output_tokens
        response_format = _response_format(request)
        if response_format:
            params["response_format"] = response_format
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        optional = {
            "seed": request.seed,
            # Cohere's `p` spans 0.01-0.99; OpenAI's top_p 0-1 (1 = no cut) maps onto it.
            "p": None if request.top_p is None else min(max(request.top_p, 0.01), 0.99),
            "presence_penalty": request.presence_penalty,
            "frequency_penalty": request.frequency_penalty,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: UsageEvent | None = None
        try:
            events = self._client.chat_stream(**self._params(request))
            async with contextlib.aclosing(cast(AsyncGenerator[Any, None], events)):
                async for raw_event in events:
                    event: Any = raw_event  # a discriminated union; `type` tells them apart
                    kind = getattr(event, "type", None)
                    delta = getattr(event, "delta", None)
                    message = getattr(delta, "message", None)
                    if kind == "content-delta":
                        text = getattr(getattr(message, "content", None), "text", None)
                        if text:
                            yield TextDelta(text)
                    elif kind == "tool-call-start":
                        call = getattr(message, "tool_calls", None)
                        fn = getattr(call, "function", None)
                        calls[event.index or 0] = {
                            "id": getattr(call, "id", None),
                            "name": getattr(fn, "name", None) or "",
                            "args": [getattr(fn, "arguments", None) or ""],
                        }
                    elif kind == "tool-call-delta":
                        fn = getattr(getattr(message, "tool_calls", None), "function", None)
                        fragment = getattr(fn, "arguments", None)
                        slot = calls.get(event.index or 0)
                        if slot is not None and fragment:
                            slot["args"].append(fragment)
                    elif kind == "tool-call-end":
                        index = event.index or 0
                        slot = calls.pop(index, None)
                        if slot is not None:
                            call_id = slot["id"] or f"call_{index}"
                            yield ToolCallEvent(ToolCall(call_id, slot["name"], "".join(slot["args"])))
                    elif kind == "message-end":
                        finish = str(getattr(delta, "finish_reason", None) or "COMPLETE")
                        usage = _usage(getattr(delta, "usage", None))
                        if finish in ("ERROR", "TIMEOUT"):
                            detail = redact(str(getattr(delta, "error", None) or finish), self._api_key)
                            raise ProviderCallError(
                                f"cohere generation failed: {detail}", timeout=finish == "TIMEOUT"
                            )
                    # message-start, content-start/end, tool-plan-delta, citations, debug: nothing to map.
        except ProviderCallError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if finish is None:
            raise ProviderCallError("cohere stream ended before message-end", connection=True)
        for index, slot in sorted(calls.items()):  # a call whose tool-call-end never came
            yield ToolCallEvent(ToolCall(slot["id"] or f"call_{index}", slot["name"], "".join(slot["args"])))
        if usage is not None:
            yield usage
        yield FinishEvent(_FINISH_REASON_MAP.get(finish, "other"))

    async def aclose(self) -> None:
        await self._httpx.aclose()
