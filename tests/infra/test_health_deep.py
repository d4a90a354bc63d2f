"""`GET /health?deep=1`: a conformance probe per provider and model in use, only for
the deployed IAM identity or an admin of that tenant (or a platform admin).

Runs on the local stack (functions-framework, emulators, aimock) over HTTP.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.admin.helpers import platform_admin, user_of
from tests.e2e.conftest import Stack, make_tenant
from tests.support.services import start_functions

COUNT = "Count from 1 to 10 in words"
TOOL = "Call the report_status tool"


def _answers(stack: Stack) -> None:
    stack.aimock.add(
        {"match": {"userMessage": COUNT}, "response": {"content": "one two three four five six seven"}},
        {
            "match": {"userMessage": TOOL},
            "response": {"toolCalls": [{"name": "report_status", "arguments": '{"status": "ok"}'}]},
        },
    )


def _probes(resp: httpx.Response) -> dict[tuple[str, str], dict[str, Any]]:
    assert resp.status_code in (200, 503), resp.text
    return {(p["provider"], p["model"]): p for p in resp.json()["checks"]["providers"]["probes"]}


def _with_tools(data: dict[str, Any]) -> None:
    data["tools"] = [{"id": "lookup", "name": "lookup", "url": "https://tools.example.com/lookup"}]
    data["assistants"][0]["tools"] = ["lookup"]


async def test_deep_health_needs_an_admin_of_that_tenant(stack: Stack, http: httpx.AsyncClient) -> None:
    _answers(stack)
    tenant = await make_tenant(stack)
    other = await make_tenant(stack)
    platform = await platform_admin(http)
    own_admin = await user_of(http, platform, tenant.id, "tenant_admin")
    viewer = await user_of(http, platform, tenant.id, "tenant_viewer")
    stranger = await user_of(http, platform, other.id, "tenant_admin")
    params = {"deep": "1", "tenant": tenant.id}

    anonymous = await http.get("/health", params=params)
    as_viewer = await http.get("/health", params=params, headers=viewer.headers)
    as_stranger = await http.get("/health", params=params, headers=stranger.headers)
    as_client_key = await http.get("/health", params=params, headers=tenant.auth)
    as_admin = await http.get("/health", params=params, headers=own_admin.headers)
    as_platform = await http.get("/health", params=params, headers=platform.headers)

    assert anonymous.status_code == 401 and as_client_key.status_code == 401
    assert as_viewer.status_code == 403
    assert as_stranger.status_code == 404
    for refused in (anonymous, as_viewer, as_stranger, as_client_key):
        assert "p-openai" not in refused.text and "m-openai" not in refused.text
    assert (
        set(_probes(as_admin))
        == set(_probes(as_platform))
        == {
            ("p-openai", "m-openai"),
            ("p-cohere", "m-cohere"),
            ("p-gemini", "m-gemini"),
        }
    )
    assert (await http.get("/health")).status_code == 200  # the shallow check stays open


async def test_each_provider_and_model_streams_deltas_usage_finish_and_a_tool_call(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    _answers(stack)
    tenant = await make_tenant(stack, mutate=_with_tools)
    platform = await platform_admin(http)

    resp = await http.get("/health", params={"deep": "1", "tenant": tenant.id}, headers=platform.headers)

    assert resp.status_code == 200, resp.text
    probes = _probes(resp)
    for probe in probes.values():
        assert probe["ok"] is True and probe["failed_step"] is None, probe
        assert probe["latency_ms"] > 0 and probe["cached"] is False
    assert probes[("p-openai", "m-openai")]["tools"] is True
    assert probes[("p-cohere", "m-cohere")]["tools"] is False
    forced = [e for e in stack.aimock.journal() if TOOL in str(e.get("body"))]
    assert forced and all("report_status" in str(e.get("body")) for e in forced)


async def test_a_failing_probe_names_its_step_and_nothing_upstream_said(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    _answers(stack)

    def with_unstored_key(data: dict[str, Any]) -> None:
        provider = {"id": "p-extra", "kind": "openai", "name": "extra", "base_url": stack.aimock.url + "/v1"}
        data["providers"].append(provider)
        data["models"].append({"id": "m-extra", "provider_id": "p-extra", "name": "gpt-extra"})
        data["credentials"].append({"id": "c-extra", "provider_id": "p-extra", "name": "never stored"})
        extra = {**data["assistants"][0], "id": "extra", "slug": "extra", "model_id": "m-extra"}
        data["assistants"].append({**extra, "credential_id": "c-extra"})

    tenant = await make_tenant(stack, mutate=with_unstored_key)
    stack.aimock.clear_journal()
    stack.aimock.next_error(500, "upstream-secret-detail-7c1")
    platform = await platform_admin(http)

    resp = await http.get("/health", params={"deep": "1", "tenant": tenant.id}, headers=platform.headers)

    assert resp.status_code == 503 and resp.json()["failing"] == ["providers"]
    probes = _probes(resp)
    assert probes[("p-extra", "m-extra")]["ok"] is False
    assert probes[("p-extra", "m-extra")]["failed_step"] == "credential"
    failed = [p for p in probes.values() if not p["ok"]]
    assert {p["failed_step"] for p in failed} <= {"credential", "stream"}
    assert "upstream-secret-detail-7c1" not in resp.text and "sk-" not in resp.text


async def test_probes_are_cached_per_provider_and_model(stack: Stack, http: httpx.AsyncClient) -> None:
    _answers(stack)
    tenant = await make_tenant(stack)
    platform = await platform_admin(http)
    params = {"deep": "1", "tenant": tenant.id}

    first = _probes(await http.get("/health", params=params, headers=platform.headers))
    calls = len([e for e in stack.aimock.journal() if COUNT in str(e.get("body"))])
    second = _probes(await http.get("/health", params=params, headers=platform.headers))

    assert all(not p["cached"] for p in first.values())
    assert all(p["cached"] for p in second.values())
    assert [p["checked_at"] for p in first.values()] == [p["checked_at"] for p in second.values()]
    assert len([e for e in stack.aimock.journal() if COUNT in str(e.get("body"))]) == calls


async def test_the_deployed_iam_identity_needs_no_admin_token(stack: Stack) -> None:
    _answers(stack)
    tenant = await make_tenant(stack)
    env = {**stack.env, "HEALTH_BEHIND_IAM": "true"}
    behind_iam = start_functions(env)
    try:
        async with httpx.AsyncClient(base_url=behind_iam.url, timeout=60) as client:
            resp = await client.get("/health", params={"deep": "1", "tenant": tenant.id})
    finally:
        behind_iam.stop()

    assert resp.status_code == 200, resp.text
    assert len(_probes(resp)) == 3
