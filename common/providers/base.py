"""The provider contract: messages and tools in, a stream of typed events out.

Adapters translate one vendor's wire format and nothing else. They receive the
key as an argument (never from `os.environ`), raise `ProviderCallError` for
every upstream failure (with the key already redacted from the text), and
leave retries and fallbacks to `common.providers.resilience`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text exactly as the model produced it (may be malformed)


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation in the provider-neutral shape."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role == "tool"
    name: str | None = None  # tool name, for role == "tool"
    # Image URLs (https or `data:image/...;base64,`) that go with a user message.
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema (type: object)
    strict: bool | None = None  # the caller asked for arguments that follow the schema exactly


@dataclass(frozen=True)
class ProviderRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_output_tokens: int | None = None
    # Sampling and output controls (OpenAI's names; each adapter translates or the
    # OpenAI-compatible endpoint refuses them for providers that lack them).
    tool_choice: Literal["auto", "none", "required"] | None = None
    tool_choice_function: str | None = None  # a named function the model must call
    parallel_tool_calls: bool | None = None
    # {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}
    response_format: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    user: str | None = None
    logprobs: bool = False  # OpenAI only: per-token log probabilities on each TextDelta
    top_logprobs: int | None = None
    n: int = 1  # adapters produce one candidate; the OpenAI endpoint refuses n > 1


@dataclass(frozen=True)
class TextDelta:
    text: str
    kind: Literal["text_delta"] = "text_delta"
    # OpenAI's per-token `logprobs.content` entries for this text, when asked for.
    logprobs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class UsageEvent:
    input_tokens: int
    output_tokens: int
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True)
class FinishEvent:
    reason: Literal["stop", "tool_calls", "length", "content_filter", "other"]
    kind: Literal["finish"] = "finish"


ProviderEvent = TextDelta | ToolCallEvent | UsageEvent | FinishEvent


class ProviderCallError(Exception):
    """An upstream failure, already stripped of secrets.

    `status` is the upstream HTTP status when there was one (None for
    connection errors and timeouts); `retry_after` is the upstream's
    `Retry-After` in seconds when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        timeout: bool = False,
        connection: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.timeout = timeout
        self.connection = connection

    @property
    def retryable(self) -> bool:
        return self.connection or self.timeout or self.status == 429 or (self.status or 0) >= 500


class ProviderAdapter(Protocol):
    """One vendor, one authenticated client, reused across requests."""

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Yield events as the upstream produces them; ends after a FinishEvent."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class Completion:
    """The non-streaming result, built by draining `stream`."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "stop"


async def complete(adapter: ProviderAdapter, request: ProviderRequest) -> Completion:
    out = Completion()
    parts: list[str] = []
    async for event in adapter.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            out.tool_calls.append(event.call)
        elif isinstance(event, UsageEvent):
            out.input_tokens, out.output_tokens = event.input_tokens, event.output_tokens
        else:
            out.finish_reason = event.reason
    out.text = "".join(parts)
    return out


def function_tools(request: ProviderRequest, *, strict: bool = False) -> list[dict[str, Any]]:
    """Tools in the `{"type": "function", ...}` shape that OpenAI and Cohere v2 share
    (`strict` per function is OpenAI's; Cohere has one request-wide flag)."""
    out = []
    for t in request.tools:
        fn: dict[str, Any] = {"name": t.name, "description": t.description, "parameters": t.parameters}
        if strict and t.strict is not None:
            fn["strict"] = t.strict
        out.append({"type": "function", "function": fn})
    return out


def json_schema_of(request: ProviderRequest) -> dict[str, Any] | None:
    """The JSON Schema a `json_schema` response format asks for, else None."""
    fmt = request.response_format or {}
    if fmt.get("type") != "json_schema":
        return None
    schema = (fmt.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else {"type": "object"}


def wants_json(request: ProviderRequest) -> bool:
    return (request.response_format or {}).get("type") in ("json_object", "json_schema")


def call_error(
    vendor: str,
    exc: Exception,
    key: str,
    *,
    status: int | None = None,
    detail: Any = None,
    headers: Any = None,
) -> ProviderCallError:
    """The adapters' shared failure mapping: an HTTP status (with `Retry-After`), else a
    transport failure, else an unexpected error; the key redacted from every text."""
    if status is not None:
        return ProviderCallError(
            redact(f"{vendor}: HTTP {status}: {detail}", key),
            status=status,
            retry_after=parse_retry_after(headers),
        )
    mapped = transport_error(exc, key, vendor=vendor)
    if mapped is not None:
        return mapped
    return ProviderCallError(redact(f"{vendor}: unexpected {type(exc).__name__}: {exc}", key))


def redact(text: str, *secrets: str | None) -> str:
    """Remove every secret (and `key=` URL parameters) from upstream text."""
    import re

    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return re.sub(r"(?i)([?&](?:key|api_key|apikey)=)[^&\s\"']+", r"\1[REDACTED]", text)


# Helpers shared by the adapters: each SDK wraps the same few transports
# (httpx, httpx2, aiohttp), so failures are classified here once.

_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "aiohttp", "h11", "anyio", "ssl"})


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)  # httpx / aiohttp headers are case-insensitive
    except AttributeError:
        return None
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return None if value is None else str(value)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (delta-seconds or HTTP date), if sent."""
    import email.utils
    import time

    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 16:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def is_timeout(exc: BaseException) -> bool:
    """Whether the root cause is a timeout.

    The root decides because wrappers lie: openai's vendored aiohttp transport
    maps aiohttp's `ServerDisconnectedError` to `httpx.ConnectTimeout`, which
    would turn an upstream reset into a 504.
    """
    import asyncio

    # anyio implements timeouts by cancelling, so a CancelledError can sit below the TimeoutError.
    chain = [e for e in _chain(exc) if not isinstance(e, asyncio.CancelledError)] or [exc]
    root = chain[-1]
    return isinstance(root, TimeoutError) or "Timeout" in type(root).__name__


def transport_error(
    exc: BaseException, *secrets: str | None, vendor: str = "upstream"
) -> ProviderCallError | None:
    """A `ProviderCallError` for a transport failure (reset, refused, timeout), else None."""
    transport = any(
        isinstance(e, OSError | TimeoutError) or type(e).__module__.split(".")[0] in _TRANSPORT_MODULES
        for e in _chain(exc)
    )
    if not transport:
        return None
    timed_out = is_timeout(exc)
    kind = "timed out" if timed_out else "connection failed"
    detail = redact(f"{type(exc).__name__}: {exc}", *secrets)
    return ProviderCallError(f"{vendor} {kind}: {detail}", timeout=timed_out, connection=not timed_out)
