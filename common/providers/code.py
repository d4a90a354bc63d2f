"""Code providers (`kind: code`) behind the provider contract: the code runs in the sandbox.

This adapter never runs the operator's code. It posts the code, the
`ProviderRequest`, the provider's config values and the one key of the call to
the sandbox function (`SANDBOX_URL`) and turns the NDJSON lines it streams back
into provider events as they arrive, with no buffering. Failures of the code or
of a sandbox limit arrive as `SandboxError` (a `ProviderCallError`), so retries,
fallbacks and incomplete replies work as for any built-in adapter.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.providers.base import ProviderEvent, ProviderRequest, redact
from common.sandbox import auth
from common.sandbox.protocol import Action, SandboxError, call_body, to_event

_clients: dict[int, httpx.AsyncClient] = {}


@dataclass(frozen=True)
class CodeSpec:
    """What the sandbox needs to run one provider: its code and its non-secret config values."""

    python_code: str
    config: dict[str, Any] = field(default_factory=dict)


def sandbox_url() -> str:
    url = os.environ.get("SANDBOX_URL", "").rstrip("/")
    if not url:
        raise SandboxError("unreachable", "code providers need the sandbox: SANDBOX_URL is not set")
    return url


def _client() -> httpx.AsyncClient:
    loop = id(asyncio.get_running_loop())
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=None, write=30.0, pool=30.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
    return client


async def sandbox_events(
    action: Action,
    code: str,
    request: ProviderRequest | None,
    config: dict[str, Any],
    key: str,
    *,
    read_timeout: float,
) -> AsyncIterator[dict[str, Any]]:
    """The raw protocol events of one sandbox call, as they arrive."""
    url = sandbox_url()
    headers = {"Authorization": f"Bearer {await auth.caller_token(url)}"}
    body = call_body(action, code, request, config, key)
    timeout = httpx.Timeout(connect=5.0, read=read_timeout, write=30.0, pool=30.0)
    try:
        async with _client().stream("POST", url, json=body, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                text = (await resp.aread())[:500].decode(errors="replace")
                raise SandboxError("unreachable", f"the sandbox answered HTTP {resp.status_code}: {text}")
            async for line in resp.aiter_lines():
                if line.strip():
                    data = json.loads(line)
                    if isinstance(data, dict):
                        yield data
    except httpx.TimeoutException:
        raise SandboxError("timeout", "the sandbox did not answer in time") from None
    except httpx.HTTPError as exc:
        detail = redact(f"{type(exc).__name__}: {exc}", key)
        raise SandboxError("unreachable", f"the sandbox could not be reached: {detail}") from None


class CodeAdapter:
    """One code provider with one key; stateless, so cheap to build per request."""

    def __init__(self, spec: CodeSpec, api_key: str, base_url: str | None, timeout: float) -> None:
        self._spec = spec
        self._key = api_key
        self._config = {**spec.config, **({"base_url": base_url} if base_url else {})}
        self._timeout = timeout

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        finished = False
        async for data in sandbox_events(
            "stream", self._spec.python_code, request, self._config, self._key, read_timeout=self._timeout
        ):
            event = to_event(data)  # raises SandboxError for `error`
            if event is not None:
                yield event
                finished = finished or event.kind == "finish"
        if not finished:
            raise SandboxError("crashed", "the sandbox stream ended before a finish event")

    async def aclose(self) -> None:
        return None
