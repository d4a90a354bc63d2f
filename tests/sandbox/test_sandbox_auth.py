"""The sandbox answers only its callers: a missing or wrong bearer is refused before any code runs."""

from __future__ import annotations

import httpx
import pytest

from tests.support.services import start_sandbox

CALL = {
    "action": "stream",
    "code": "async def stream(request):\n    yield 'ran'\n",
    "request": {"model": "m"},
}


async def test_wrong_or_missing_secret_is_refused(sandbox, sandbox_secret):
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30) as client:
        missing = await client.post("/", json=CALL)
        wrong = await client.post("/", json=CALL, headers={"Authorization": "Bearer not-the-secret"})
        right = await client.post("/", json=CALL, headers={"Authorization": f"Bearer {sandbox_secret}"})

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "ran" not in missing.text + wrong.text
    assert right.status_code == 200 and '"text":"ran"' in right.text


@pytest.mark.parametrize("env", [{}, {"SANDBOX_AUTH": "google"}])
async def test_an_unconfigured_sandbox_refuses_everyone(env):
    svc = start_sandbox(env)
    try:
        async with httpx.AsyncClient(base_url=svc.url, timeout=30) as client:
            resp = await client.post("/", json=CALL, headers={"Authorization": "Bearer anything"})
        assert resp.status_code == 403 and "ran" not in resp.text
    finally:
        svc.stop()
