"""Warm requests make 0 Secret Manager and 0 GCS calls (counted in-process)."""

from __future__ import annotations

import uuid

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from common.config import cache, source
from common.secrets import get_secrets, reset_secrets
from tests.e2e.conftest import make_tenant


class CountingBackend:
    def __init__(self, inner):
        self.inner = inner
        self.gets = 0

    async def get(self, secret, version="latest"):
        self.gets += 1
        return await self.inner.get(secret, version)

    async def put(self, secret, value):
        return await self.inner.put(secret, value)

    async def delete(self, secret):
        await self.inner.delete(secret)

    async def ping(self):
        await self.inner.ping()


def in_process_app() -> Starlette:
    from functions.dev import dev

    return Starlette(routes=[Route("/{path:path}", dev, methods=["GET", "POST"])])


async def test_warm_chat_makes_no_secret_manager_or_gcs_calls(stack, monkeypatch):
    tenant = await make_tenant(stack, to="gcs")
    counter = CountingBackend(get_secrets().backend)
    reset_secrets(counter)
    cache.invalidate()
    downloads = []
    real_download = source._download
    monkeypatch.setattr(source, "_download", lambda t, cap: downloads.append(t) or real_download(t, cap))
    text = f"warm-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "warm reply"}})

    transport = httpx.ASGITransport(app=in_process_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
        thread_id = (await client.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
        cold = await client.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
        assert cold.status_code == 200, cold.text
        assert downloads == [tenant.id] and counter.gets == 1  # the cold path really used both

        for _ in range(3):
            warm = await client.post(
                "/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth
            )
            assert warm.status_code == 200, warm.text

    assert downloads == [tenant.id], "warm requests downloaded the GCS bundle again"
    assert counter.gets == 1, "warm requests called the secrets backend again"
    reset_secrets()
    from common.providers.registry import close_all

    await close_all()
