"""Provider test and the playground: one direct upstream call, JSON or SSE, nothing stored."""

from __future__ import annotations

import secrets

from tests.admin.helpers import marker, provider_set, tenant_with_admin
from tests.e2e.conftest import parse_sse, upstream_requests


async def test_provider_test_reports_ok_or_the_upstream_error(stack, http, platform):
    _, admin = await tenant_with_admin(http, platform)
    provider, model, cred = await provider_set(
        admin, "openai", stack.aimock.url + "/v1", "sk-" + secrets.token_hex(10), "gpt-4o"
    )
    stack.aimock.add({"match": {"userMessage": "ping"}, "response": {"content": "pong"}})
    ok = await admin.post(f"/providers/{provider['id']}/test", {"credential_id": cred["id"]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "ok" and ok.json()["latency_ms"] > 0
    stack.aimock.next_error(401, "bad key", "authentication_error")
    failed = await admin.post(
        f"/providers/{provider['id']}/test", {"credential_id": cred["id"], "model_id": model["id"]}
    )
    assert failed.status_code == 200
    assert failed.json()["status"] == "error" and failed.json()["upstream_status"] == 401
    unknown = await admin.post(f"/providers/{provider['id']}/test", {"credential_id": "nope"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "credential_id"


async def test_playground_json_and_sse_store_nothing(stack, http, platform):
    tenant, admin = await tenant_with_admin(http, platform)
    for kind, base, upstream in (
        ("openai", stack.aimock.url + "/v1", "gpt-4o"),
        ("gemini", stack.aimock.url, "gemini-2.0-flash"),
        ("cohere", stack.aimock.url, "command-r-plus"),
    ):
        provider, model, cred = await provider_set(admin, kind, base, "k-" + secrets.token_hex(10), upstream)
        text = marker(f"play-{kind}")
        stack.aimock.add(
            {"match": {"userMessage": text}, "response": {"content": f"Hello from {kind} playground."}}
        )
        ids = {"provider_id": provider["id"], "model_id": model["id"], "credential_id": cred["id"]}
        resp = await admin.post(
            "/playground/chat",
            {**ids, "system_prompt": "Be a PLAYGROUND tester.", "message": text, "temperature": 0.2},
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["text"] == f"Hello from {kind} playground." and body["provider"] == kind
        assert "PLAYGROUND tester" in str(upstream_requests(stack, text)[-1]["body"])

        stream = await admin.post(
            "/playground/chat",
            {
                **ids,
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                    {"role": "user", "content": text},
                ],
                "stream": True,
            },
        )
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(stream.text)
        assert "".join(d["text"] for n, d in events if n == "delta") == f"Hello from {kind} playground."
        assert events[-1][0] == "done"

    stack.aimock.next_error(500, "boom")
    failed = await admin.post("/playground/chat", {**ids, "message": marker("play-fail")})
    assert failed.status_code == 502 and failed.json()["error"]["type"] == "upstream_error"
    both = await admin.post(
        "/playground/chat", {**ids, "message": "a", "messages": [{"role": "user", "content": "b"}]}
    )
    assert both.status_code == 422
    # Nothing was stored: no usage for the tenant.
    assert (await admin.get("/usage")).json()["totals"]["requests"] == 0
    assert tenant
