"""Webhook tools: POST the model's arguments as JSON to an admin-defined URL.

- The URL is vetted by `common.tools.netguard` and the connection goes to the
  vetted addresses only: aiohttp gets a resolver that answers with them and
  nothing else, while the URL keeps its host name for the Host header, TLS
  SNI and certificate checks. Redirects are not followed (a 3xx could point
  anywhere), proxies from the environment are not used.
- The only credential sent is the tool's own (`credential_id`, read from the
  secrets backend), as `Authorization: Bearer <value>`, or as the header the
  value names when it is stored as `Header-Name: value`. A provider key can
  never be a webhook credential. The tenant, thread and call ids are sent as
  headers, bound by the server.
- Connection errors, 429 and 5xx are retried with exponential backoff and
  jitter (honouring `Retry-After`) while the tool's time budget lasts; the
  call id is sent as `Idempotency-Key` so a receiver can drop a duplicate of
  a retried POST.
- The response body (JSON or text) becomes the result, read up to a byte cap
  and truncated for the model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from common.config.effective import TenantConfig
from common.config.models import Tool
from common.logging import get_logger, log
from common.providers.base import ToolCall, ToolSpec, parse_retry_after
from common.tools import netguard
from common.tools.base import ToolContext, ToolOutcome, error, parse_arguments, truncate

_log = get_logger("tools.webhook")
ATTEMPTS = 3
BASE_DELAY_S = 0.2
MAX_RESPONSE_BYTES = 256 * 1024
_HEADER_LINE = re.compile(r"^([A-Za-z0-9-]{1,64}):\s+(\S.*)$")
_FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-type"})


class _PinnedResolver(AbstractResolver):
    """Answers for the vetted host with the vetted addresses; refuses every other lookup."""

    def __init__(self, target: netguard.Target) -> None:
        self._target = target

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if netguard.normalize_host(host) != self._target.host:
            raise OSError(f"refusing to resolve {host}")
        return [
            ResolveResult(hostname=host, host=ip, port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST)
            for fam, ip in self._target.addresses
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class WebhookTool:
    tenant: str
    cfg: TenantConfig
    record: Tool

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def timeout_s(self) -> float:
        return self.record.timeout_s

    @property
    def spec(self) -> ToolSpec:
        params = dict(self.record.parameters or {})
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        return ToolSpec(self.record.name, self.record.description, params)

    async def __call__(self, call: ToolCall, ctx: ToolContext) -> ToolOutcome:
        arguments = parse_arguments(call)
        if isinstance(arguments, ToolOutcome):
            return arguments
        problem = await _schema_problem(self.spec.parameters, arguments)
        if problem:
            return error(call, f"invalid arguments for {self.name}: {problem}")
        from common.settings import get_settings

        try:
            target = await netguard.vet(self.record.url, get_settings().allowed_private_hosts)
            headers = await self._headers(ctx)
        except netguard.Refused as exc:
            log(_log, logging.WARNING, "webhook refused", tenant=self.tenant, tool=self.name, reason=str(exc))
            return error(call, f"{self.name} cannot be called: {exc}")
        return await _post(call, target, arguments, headers, self.timeout_s)

    async def _headers(self, ctx: ToolContext) -> dict[str, str]:
        headers = {
            "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
            "User-Agent": "gcp-assistants-webhook/1",
            "X-Tenant-Id": ctx.tenant,
            "X-Thread-Id": ctx.thread_id,
            "X-Tool-Call-Id": ctx.call_id,
            "Idempotency-Key": f"{ctx.thread_id}:{ctx.request_id}:{ctx.call_id}",
        }
        cred_id = self.record.credential_id
        if not cred_id:
            return headers
        from common.secrets import SecretNotFound, get_secrets, secret_id

        cred = self.cfg.credentials.get(cred_id)
        if cred is not None and cred.kind != "webhook":
            raise netguard.Refused("a provider key cannot be sent to a webhook")
        if cred is not None and not cred.is_active:
            raise netguard.Refused(f"credential {cred_id} is disabled")
        try:
            value = await get_secrets().get(
                secret_id(self.tenant, "cred", cred_id), cred.secret_version if cred else "latest"
            )
        except (SecretNotFound, ValueError):
            raise netguard.Refused(f"credential {cred_id} has no stored value") from None
        name, header_value = "Authorization", f"Bearer {value.strip()}"
        line = _HEADER_LINE.match(value.strip())
        if line and line.group(1).lower() not in _FORBIDDEN_HEADERS:
            name, header_value = line.group(1), line.group(2)
        headers[name] = header_value
        return headers


async def _schema_problem(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The arguments' problems for the model, checked off the loop (`safe_schema`)."""
    from common.settings import get_settings
    from common.tools import safe_schema

    try:
        errors = await safe_schema.validate_async(
            schema, arguments, limit=5, timeout_s=get_settings().schema_timeout_s
        )
    except safe_schema.SchemaUnusable as exc:
        return f"the tool's parameters schema cannot be used ({exc})"
    if not errors:
        return None
    return "; ".join(f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}" for e in errors)


async def _post(
    call: ToolCall, target: netguard.Target, arguments: dict[str, Any], headers: dict[str, str], budget: float
) -> ToolOutcome:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    connector = aiohttp.TCPConnector(
        resolver=_PinnedResolver(target), use_dns_cache=False, force_close=True, limit=4
    )
    last = "no attempt was made"
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        for attempt in range(ATTEMPTS):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            retry_after: float | None = None
            try:
                async with session.post(
                    target.url,
                    json=arguments,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=remaining),
                ) as resp:
                    body = await _read_capped(resp)
                    if 200 <= resp.status < 300:
                        return ToolOutcome(call, truncate(body or f"HTTP {resp.status}"))
                    last = f"the webhook answered HTTP {resp.status}"
                    if 300 <= resp.status < 400:
                        return error(call, f"{last} (redirects are not followed)")
                    if resp.status != 429 and resp.status < 500:
                        return error(call, f"{last}: {body[:1000]}")
                    retry_after = parse_retry_after(resp.headers)
            except TimeoutError:
                if deadline - loop.time() <= 0.05:  # the tool's whole budget is spent
                    return error(call, f"the webhook did not answer within {budget:g} s")
                last = "the webhook timed out"
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                last = f"the webhook could not be reached ({type(exc).__name__})"
            if attempt + 1 < ATTEMPTS:
                delay = max(retry_after or 0.0, random.random() * BASE_DELAY_S * 2**attempt)
                if loop.time() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
    return error(call, last)


async def _read_capped(resp: aiohttp.ClientResponse) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_RESPONSE_BYTES:
            break
    raw = b"".join(chunks)[:MAX_RESPONSE_BYTES]
    try:
        text = raw.decode(resp.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    if "json" in (resp.content_type or ""):
        try:  # compact JSON: fewer tokens for the model, same content
            return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            return text
    return text
