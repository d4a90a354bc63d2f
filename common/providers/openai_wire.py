"""OpenAI Chat Completions (and every `openai_compatible` server) spoken over aiohttp: the
default client (`PROVIDER_HTTP_CLIENT=wire`); `openai.py` keeps the official SDK one setting away.

Why not the SDK on the hot path: measured in one process against aimock
(`python -m bench.sdk_cost`), the SDK spends ~3x the CPU of the same call over bare aiohttp
(request options copied per call, httpx2 request and response models over its aiohttp
transport, a Python SSE decoder): 1.8-3.4 ms per call on this 2-core machine, more than
half of a stateless request's CPU. The protocol is small and stable, so this module does
what the SDK did for us, and tests/providers/test_adapters.py runs every case on both:
* the same body and chunk handling (`openai_chat`, shared with the SDK adapter);
* SSE per the spec: `data:` lines with one optional space, multi-line data, comments,
  `[DONE]`; an `event: error` or an `{"error": ...}` chunk raises;
* HTTP errors with their status, the body's `error.message` and `Retry-After` /
  `retry-after-ms`; transport failures and timeouts (connect, and between reads, as the
  SDK's `timeout`) as connection or timeout errors;
* redirects are never followed (the SDK's httpx does not either: a tenant's endpoint must
  not bounce our key elsewhere), and nothing is read from the environment (no proxy, no
  `OPENAI_*` variable);
* with `allowed_hosts` (as the registry builds it), every connection goes to addresses the
  webhook guard accepted when it was made (`_GuardedResolver`): a tenant host whose DNS
  flips to an internal address after the call-time check gets no connection, which the
  SDK, resolving on its own, could not promise;
* a server that ignores `stream: true` and answers one JSON completion is understood;
* every read is bounded (a line, a JSON reply, an error body, a whole stream) and reading
  stops at `[DONE]`, so a hostile upstream costs at most its bounds and the turn deadline.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from common.providers.base import (
    ProviderCallError,
    ProviderEvent,
    ProviderRequest,
    call_error,
    redact,
    transport_error,
)
from common.providers.lines import LineTooLong, body_lines
from common.providers.openai_chat import DEFAULT_BASE_URL, ChunkReader, completion_as_chunk, params
from common.providers.tls import system_context
from common.tools import netguard

_TLS = system_context()  # at import, which `registry.preload` runs off the event loop (tls.py)

MAX_LINE_BYTES = 8 * 1024 * 1024  # one SSE line (a delta, a tool call's arguments)
# A whole streamed body: ~128k output tokens with logprobs stay under it; a flood does not.
MAX_STREAM_BYTES = 256 * 1024 * 1024
MAX_JSON_BYTES = 8 * 1024 * 1024  # a whole non-streamed reply
MAX_ERROR_BYTES = 64 * 1024  # an error body: enough for any message, never a flood


class _GuardedResolver(AbstractResolver):
    """Resolves at connect time through the webhook guard: only public addresses (or any, for
    an allow-listed host), and exactly the addresses that were checked."""

    def __init__(self, scheme: str, allowed_hosts: tuple[str, ...]) -> None:
        self._scheme = scheme
        self._allowed = {netguard.normalize_host(h) for h in allowed_hosts}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = netguard.normalize_host(host)
        target = netguard.Target(f"{self._scheme}://{host}", self._scheme, name, port, name in self._allowed)
        try:
            checked = await netguard.resolve(target)
        except netguard.Refused as exc:
            # aiohttp reports a resolver's OSError by its strerror: say why there.
            raise OSError(errno.EACCES, f"refused by the address guard: {exc}") from None
        return [
            ResolveResult(hostname=host, host=ip, port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST)
            for fam, ip in checked.addresses
        ]

    async def close(self) -> None:
        return None


class OpenAIWireAdapter:
    """One key and base URL; one aiohttp session (connection pool), made on first use on the
    event loop that uses it (the registry caches adapters per loop)."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None,
        timeout: float,
        *,
        max_tokens_field: str = "max_completion_tokens",
        allowed_hosts: tuple[str, ...] | None = None,
    ) -> None:
        self._api_key = api_key
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        self._allowed_hosts = allowed_hosts
        self._max_tokens_field = max_tokens_field
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = None
            if self._allowed_hosts is not None:
                resolver = _GuardedResolver(urlsplit(self._url).scheme.lower(), self._allowed_hosts)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=_TLS, limit=1000, resolver=resolver),  # the SDK's pool
                timeout=self._timeout,
                trust_env=False,
            )
        return self._session

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        body = json.dumps(params(request, self._max_tokens_field), ensure_ascii=False).encode()
        reader = ChunkReader()
        try:
            async with self._client().post(
                self._url, data=body, headers=self._headers, allow_redirects=False
            ) as resp:
                if resp.status >= 300:
                    raise await self._status_error(resp)
                if resp.content_type == "application/json":  # the server ignored `stream: true`
                    whole = self._checked(_loads(await _read(resp, MAX_JSON_BYTES)))
                    for event in reader.feed(completion_as_chunk(whole)):
                        yield event
                else:
                    async for data in _sse_data(resp):
                        for event in reader.feed(self._checked(_loads(data))):
                            yield event
        except ProviderCallError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        for event in reader.end():
            yield event

    def _checked(self, chunk: Any) -> dict[str, Any]:
        if not isinstance(chunk, dict):
            return {}
        if chunk.get("error"):
            raise self._stream_error(chunk["error"])
        return chunk

    def _stream_error(self, error: Any) -> ProviderCallError:
        return ProviderCallError(redact(f"openai: error in the stream: {_message(error)}", self._api_key))

    async def _status_error(self, resp: aiohttp.ClientResponse) -> ProviderCallError:
        raw = (await _read(resp, MAX_ERROR_BYTES, cut=True)).decode(errors="replace")
        try:
            detail = _message(json.loads(raw))
        except ValueError:
            detail = raw
        exc = RuntimeError(f"HTTP {resp.status}")
        return call_error(
            "openai", exc, self._api_key, status=resp.status, detail=detail, headers=resp.headers
        )

    def _error(self, exc: Exception) -> ProviderCallError:
        if isinstance(exc, _EventError):
            return self._stream_error(exc.args[0])
        if isinstance(exc, LineTooLong | _Malformed):
            return ProviderCallError(redact(f"openai: malformed stream: {exc}", self._api_key))
        mapped = transport_error(exc, self._api_key, vendor="openai")
        return mapped if mapped is not None else call_error("openai", exc, self._api_key)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class _Malformed(Exception):
    pass


class _EventError(Exception):
    """An `event: error` in the stream; its message."""


def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise _Malformed(f"not JSON: {data[:200]!r}") from None


def _message(error: Any) -> Any:
    """`{"error": {"message": ...}}`, `{"message": ...}` or anything else, as OpenAI's SDK reads it."""
    if isinstance(error, dict):
        error = error.get("error", error)
    return error.get("message", error) if isinstance(error, dict) else error


async def _read(resp: aiohttp.ClientResponse, limit: int, *, cut: bool = False) -> bytes:
    """The whole body (however many reads it arrives in), at most `limit` bytes: past it,
    the first `limit` bytes if `cut`, else an error."""
    body = bytearray()
    async for chunk in resp.content.iter_any():
        body += chunk
        if len(body) > limit:
            if cut:
                return bytes(body[:limit])
            raise _Malformed(f"a body over {limit} bytes")
    return bytes(body)


async def _sse_data(resp: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The `data` of each server-sent event up to `[DONE]` (the field rules of the SSE spec).

    An `error` event raises; other named events (none in Chat Completions) are skipped, as
    the SDK does. Reading stops at `[DONE]`: an upstream that keeps the body open after it
    cannot hold the reply back (aiohttp still reuses the connection when the body's end was
    already in). A body past MAX_STREAM_BYTES fails the call: the upstream is the tenant's
    to choose, and this process's memory is every tenant's.
    """
    event: str | None = None
    data: list[str] = []
    total = 0
    async for raw in body_lines(resp, MAX_LINE_BYTES):
        total += len(raw) + 1
        if total > MAX_STREAM_BYTES:
            raise _Malformed(f"a stream over {MAX_STREAM_BYTES} bytes")
        line = raw.decode(errors="replace").removesuffix("\r")
        if line:
            if line[0] == ":":
                continue  # a comment (keep-alive)
            name, _, value = line.partition(":")
            value = value[1:] if value[:1] == " " else value
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            continue
        if data:  # a blank line ends an event
            text = "\n".join(data)
            if text == "[DONE]":
                return
            if event == "error":
                raise _EventError(_message(_loads(text)))
            if event is None:
                yield text
        event, data = None, []
    if data and event is None and data != ["[DONE]"]:
        yield "\n".join(data)  # a last event without its blank line
