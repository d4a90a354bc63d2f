"""Gemini (google-genai, Developer API v1beta) behind the provider contract.

Gemini differs from the OpenAI shape in three ways this module absorbs:
the system prompt is `system_instruction`, tool calls and results are
`function_call` / `function_response` parts (results in a "user" turn), and
calls carry no ids. Ids are synthesized (`call_{n}`) and results are mapped
back to function names through the assistant message that made the call.
Gemini 3 also requires each call's `thought_signature` to be replayed; it is
carried inside the id (`call_0~<base64url>`), the one field every layer
above already persists.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import mimetypes
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal, cast

import httpx
from google import genai
from google.genai import errors, types

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
    json_schema_of,
    wants_json,
)
from common.providers.tls import httpx_context

_TLS = httpx_context()  # at import, which `registry.preload` runs off the event loop (tls.py)

HttpClientKind = Literal["aiohttp", "httpx"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "other"]

_FINISH_REASON_MAP: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "FUNCTION_CALL": "tool_calls",  # not a real Gemini value; aimock sends it
}
_SYNTHETIC_ID = re.compile(r"^call_\d+$")


def _encode_id(base: str, signature: bytes | None) -> str:
    if not signature:
        return base
    return f"{base}~{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def _decode_id(call_id: str) -> tuple[str | None, bytes | None]:
    """(id to send upstream or None when we synthesized it, thought signature)."""
    base, _, sig = call_id.partition("~")
    signature = None
    if sig:
        with contextlib.suppress(binascii.Error, ValueError):
            signature = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    return (None if _SYNTHETIC_ID.match(base) else base or None), signature


def _args(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _tool_output(content: str) -> dict[str, Any]:
    """Gemini wants an object; Google documents `output` (and `error`) as the keys."""
    try:
        return {"output": json.loads(content)}
    except ValueError:
        return {"output": content}


def _image_part(url: str) -> types.Part:
    """`data:` URLs travel inline; https URLs as `file_data` that Gemini fetches itself
    (the MIME type from the extension, JPEG when it says nothing)."""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        mime = header[5:].split(";", 1)[0] or "image/jpeg"
        return types.Part(inline_data=types.Blob(mime_type=mime, data=base64.b64decode(payload)))
    guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
    mime = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
    return types.Part(file_data=types.FileData(file_uri=url, mime_type=mime))


def _tool_config(request: ProviderRequest) -> types.ToolConfig | None:
    """OpenAI's tool_choice as Gemini's calling mode: none→NONE, required→ANY, a named
    function→ANY limited to it; strict tools ask for VALIDATED (schema-adherent calls)."""
    names = [request.tool_choice_function] if request.tool_choice_function else None
    if names or request.tool_choice == "required":
        mode = types.FunctionCallingConfigMode.ANY
    elif request.tool_choice == "none":
        mode = types.FunctionCallingConfigMode.NONE
    elif any(t.strict for t in request.tools):
        mode = types.FunctionCallingConfigMode.VALIDATED
    else:
        return None
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode=mode, allowed_function_names=names)
    )


def _contents(request: ProviderRequest) -> tuple[list[types.Content], str | None]:
    system = [request.system] if request.system else []
    contents: list[types.Content] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns
    responses: list[types.Part] = []

    def flush_responses() -> None:
        if responses:
            contents.append(types.Content(role="user", parts=list(responses)))
            responses.clear()

    for msg in request.messages:
        if msg.role == "tool":
            call_id = msg.tool_call_id or ""
            upstream_id, _ = _decode_id(call_id)
            name = msg.name or names.get(call_id, "")
            response = types.FunctionResponse(name=name, response=_tool_output(msg.content), id=upstream_id)
            responses.append(types.Part(function_response=response))
            continue
        flush_responses()  # consecutive tool results travel together in one user turn
        if msg.role == "system":
            system.append(msg.content)
        elif msg.role == "user":
            parts = [types.Part(text=msg.content)] if msg.content or not msg.images else []
            parts += [_image_part(url) for url in msg.images]
            contents.append(types.Content(role="user", parts=parts))
        else:
            parts = [types.Part(text=msg.content)] if msg.content else []
            for call in msg.tool_calls:
                names[call.id] = call.name
                upstream_id, signature = _decode_id(call.id)
                fc = types.FunctionCall(name=call.name, args=_args(call.arguments), id=upstream_id)
                parts.append(types.Part(function_call=fc, thought_signature=signature))
            if parts:  # Gemini rejects a turn without parts
                contents.append(types.Content(role="model", parts=parts))
    flush_responses()
    return contents, "\n\n".join(system) or None


def _config(request: ProviderRequest, system: str | None) -> types.GenerateContentConfig:
    config = types.GenerateContentConfig(
        system_instruction=system,
        temperature=request.temperature,
        max_output_tokens=request.max_output_tokens,
        # We hand the SDK declarations, never callables; the server runs the tool loop.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if request.tools:
        decls = [
            types.FunctionDeclaration(
                name=t.name, description=t.description, parameters_json_schema=t.parameters
            )
            for t in request.tools
        ]
        config.tools = [types.Tool(function_declarations=decls)]
        config.tool_config = _tool_config(request)
    if wants_json(request):
        config.response_mime_type = "application/json"
        config.response_json_schema = json_schema_of(request)
    if request.stop:
        config.stop_sequences = list(request.stop)
    config.seed = request.seed
    config.top_p = request.top_p
    config.presence_penalty = request.presence_penalty
    config.frequency_penalty = request.frequency_penalty
    return config


def _finish(raw: Any, had_calls: bool) -> FinishReason:
    name = str(getattr(raw, "value", raw))
    reason = _FINISH_REASON_MAP.get(name, "other")
    # Gemini ends a function-calling turn with STOP; the caller needs to know to run tools.
    return "tool_calls" if had_calls and reason in ("stop", "other") else reason


class GeminiAdapter:
    """One authenticated `genai.Client`, reused for every request with this key.

    The default HTTP client is httpx, not genai's aiohttp default: on aiohttp
    genai applies the timeout as `ClientTimeout(total=...)`, a deadline on the
    whole stream, which would cut a long reply off mid-sentence. With httpx it
    is a per-read timeout, like the OpenAI and Cohere adapters.
    """

    def __init__(
        self, api_key: str, base_url: str | None, timeout: float, *, http_client: HttpClientKind = "httpx"
    ):
        self._api_key = api_key
        self._httpx = (
            httpx.AsyncClient(
                timeout=timeout,
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
                verify=_TLS,
            )
            if http_client == "httpx"
            else None
        )
        options = types.HttpOptions(
            api_version="v1beta",
            timeout=int(timeout * 1000),
            # attempts=1 also turns off genai's hidden sleep-and-retry on aiohttp connection errors.
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._httpx,
            # The shared TLS context (tls.py): genai otherwise builds one for its sync client
            # and one for websockets, ~45 ms of CPU each.
            client_args={"verify": _TLS},
            async_client_args={"verify": _TLS, "ssl": _TLS},
        )
        if base_url:
            options.base_url = base_url
        self._client = genai.Client(api_key=api_key, vertexai=False, http_options=options)

    def _error(self, exc: Exception) -> ProviderCallError:
        if isinstance(exc, errors.APIError):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            detail = exc.message or exc
            return call_error("gemini", exc, self._api_key, status=exc.code, detail=detail, headers=headers)
        return call_error("gemini", exc, self._api_key)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        contents, system = _contents(request)
        config = _config(request, system)
        calls = 0
        finish: Any = None
        usage: UsageEvent | None = None
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=request.model, contents=cast(Any, contents), config=config
            )
            async with contextlib.aclosing(cast(AsyncGenerator[Any, None], chunks)):
                async for chunk in chunks:
                    meta = chunk.usage_metadata
                    if meta is not None:  # cumulative: the last one wins
                        output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
                        usage = UsageEvent(meta.prompt_token_count or 0, output)
                    if not chunk.candidates:
                        feedback = chunk.prompt_feedback
                        if feedback is not None and feedback.block_reason:
                            finish = "SAFETY"  # the prompt itself was blocked
                        continue
                    candidate = chunk.candidates[0]
                    for part in (candidate.content.parts if candidate.content else None) or ():
                        fc = part.function_call
                        if fc is not None:
                            call_id = _encode_id(fc.id or f"call_{calls}", part.thought_signature)
                            calls += 1
                            yield ToolCallEvent(ToolCall(call_id, fc.name or "", json.dumps(fc.args or {})))
                        elif part.text and not part.thought:
                            yield TextDelta(part.text)
                    if candidate.finish_reason is not None:
                        finish = candidate.finish_reason
        except ProviderCallError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        if finish is None:
            raise ProviderCallError("gemini stream ended before a finish reason", connection=True)
        if usage is not None:
            yield usage
        yield FinishEvent(_finish(finish, calls > 0))

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()  # the sync httpx client genai builds at construction
        if self._httpx is not None:  # genai leaves a caller-supplied client open
            await self._httpx.aclose()
