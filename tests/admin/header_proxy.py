"""A recording pass-through proxy in front of aimock.

aimock's journal redacts credential headers (`authorization`, `x-goog-api-key`,
...: `[REDACTED]`), so it can show that a request reached the OpenAI endpoint
but not with which key. Providers whose key a test must see point their
`base_url` here; every request is recorded with its headers, then forwarded
to aimock unchanged and its (possibly streamed) answer relayed back.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.services import free_port

_HOP = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "keep-alive"}


@dataclass
class Entry:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class HeaderProxy:
    upstream: str
    entries: list[Entry] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"  # the allow-listed provider host

    def requests_with(self, marker: str) -> list[Entry]:
        return [e for e in list(self.entries) if marker in e.body]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.entries.append(
            Entry(request.method, request.path_qs, dict(request.headers), body.decode(errors="replace"))
        )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as up,
        ):
            out = web.StreamResponse(status=up.status)
            for name in ("Content-Type", "Content-Encoding", "Retry-After"):
                if name in up.headers:
                    out.headers[name] = up.headers[name]
            await out.prepare(request)
            async for chunk in up.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    def start(self) -> HeaderProxy:
        self.port = free_port()
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            app = web.Application(client_max_size=8 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="header-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


def authorization(entry: Entry | dict[str, Any]) -> str:
    headers = entry.headers if isinstance(entry, Entry) else entry.get("headers", {})
    return next((v for k, v in headers.items() if k.lower() == "authorization"), "")
