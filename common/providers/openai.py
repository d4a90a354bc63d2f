"""OpenAI Chat Completions (and every `openai_compatible` server) through the official SDK:
`PROVIDER_HTTP_CLIENT=aiohttp|httpx` (the SDK's two transports).

The default client is `openai_wire` (same body, same chunk handling from
`openai_chat`, ~3x less CPU per call, measured by `bench/sdk_cost.py`); this
adapter is the official client for operators who want exactly its behaviour.
The SDK's own retries are off (`max_retries=0`) because
`common.providers.resilience` owns retry and fallback policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from common.lazy_init import deferred_inits

# The SDK's `types` packages re-export ~370 pydantic modules on import; the
# client needs a few of them. See common/lazy_init.py.
with deferred_inits("openai.types", "openai.types.responses"):
    import openai

from common.providers.base import (
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    call_error,
    is_timeout,
    redact,
)
from common.providers.openai_chat import DEFAULT_BASE_URL, ChunkReader, params
from common.providers.tls import httpx2_context

_TLS = httpx2_context()  # at import, which `registry.preload` runs off the event loop (tls.py)

HttpClientKind = Literal["aiohttp", "httpx"]


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

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        reader = ChunkReader()
        try:
            # `client.post` (the SDK's documented path for raw calls) with chunks as plain
            # dicts: the SDK still authenticates, maps errors and parses SSE (`[DONE]`,
            # in-stream errors), but skips its request transform and the pydantic object
            # per chunk, which were most of the adapter's CPU per turn.
            upstream = await self._client.post(
                "/chat/completions",
                body=params(request, self._max_tokens_field),
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async with upstream:  # closes the response even when our caller stops early
                async for item in upstream:
                    for event in reader.feed(item if isinstance(item, dict) else {}):
                        yield event
        except ProviderCallError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        for event in reader.end():
            yield event

    async def aclose(self) -> None:
        await self._client.close()
