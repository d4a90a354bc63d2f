"""`GET /health`: every dependency named and timed; 503 naming the one that is down."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import stack_env
from tests.support.services import start_firestore, start_functions


async def test_health_is_200_with_each_check_named_and_timed(stack, http):
    resp = await http.get("/health")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ok" and body["version"]
    for name in ("firestore", "storage", "secrets"):
        assert body["checks"][name]["status"] == "ok"
        assert isinstance(body["checks"][name]["latency_ms"], float)


async def test_health_is_503_naming_firestore_when_its_emulator_stops(storage_emulator, tmp_path):
    firestore = start_firestore()  # a private emulator, so stopping it hurts no other test
    functions = start_functions(stack_env(firestore, storage_emulator, str(tmp_path / "secrets.json")))
    try:
        async with httpx.AsyncClient(base_url=functions.url, timeout=30) as client:
            assert (await client.get("/health")).status_code == 200
            firestore.stop()
            resp = await client.get("/health")
        assert resp.status_code == 503
        assert resp.headers.get("Retry-After")
        body = resp.json()
        assert body["checks"]["firestore"]["status"] == "error"
        assert body["failing"] == ["firestore"]
        assert body["checks"]["storage"]["status"] == "ok"
    finally:
        functions.stop()
        firestore.stop()
