"""Webhook tools end to end: the chat function calls a local HTTP server (allow-listed as
`localhost`), with the auth header from the secrets backend; SSRF attempts are refused
before any connection is made.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from common.secrets import get_secrets, secret_id
from tests.e2e.conftest import make_tenant
from tests.tools.hookserver import HookServer, Reply
from tests.tools.support import chat, exchanges, last_request, marker, named

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "description": "Order number"}},
    "required": ["order_id"],
    "additionalProperties": False,
}


@pytest.fixture()
async def server() -> AsyncIterator[HookServer]:
    srv = await HookServer().start()
    yield srv
    await srv.stop()


@pytest.fixture()
async def internal() -> AsyncIterator[HookServer]:
    """Stands for a service on the internal network that must stay unreachable."""
    srv = await HookServer().start()
    yield srv
    await srv.stop()


def webhook(name: str, url: str, **fields) -> dict:
    return {
        "id": name.replace("_", "-"),
        "name": name,
        "description": f"{name} webhook",
        "url": url,
        "parameters": ORDER_SCHEMA,
        **fields,
    }


async def tenant_with(stack, tools: list[dict]):
    def mutate(data):
        data["tools"] = tools
        for a in data["assistants"]:
            a["tools"] = [t["name"] for t in tools]

    return await make_tenant(stack, mutate=mutate)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_webhook_round_trip_with_its_credential(stack, http, server, provider):
    path = server.route("/orders", Reply(200, {"order_id": "A-1001", "status": "shipped"}))
    tenant = await tenant_with(stack, [webhook("order_status", server.url(path), credential_id="orders-api")])
    await get_secrets().put(secret_id(tenant.id, "cred", "orders-api"), "hook-token-123")
    m = marker("hook")
    stack.aimock.add(
        {
            "match": {"userMessage": m, "toolResultContains": "shipped"},
            "response": {"content": "It has shipped."},
        },
        {
            "match": {"userMessage": m},
            "response": {"toolCalls": [{"name": "order_status", "arguments": {"order_id": "A-1001"}}]},
        },
    )

    events = await chat(http, tenant, f"support-{provider}", f"Where is A-1001? {m}")

    [result] = named(events, "tool_result")
    assert result["is_error"] is False and json.loads(result["result"]) == {
        "order_id": "A-1001",
        "status": "shipped",
    }
    assert named(events, "message")[0]["text"] == "It has shipped."
    [seen] = server.seen(path)
    assert seen.method == "POST" and seen.json() == {"order_id": "A-1001"}
    assert seen.headers["authorization"] == "Bearer hook-token-123"
    assert seen.headers["x-tenant-id"] == tenant.id
    assert seen.headers["x-thread-id"] == events[0][1]["thread_id"]
    assert "sk-" not in json.dumps(seen.headers)  # no provider key, no client key
    assert exchanges(provider, last_request(stack, m))[0][2] == {"order_id": "A-1001", "status": "shipped"}


async def test_webhook_5xx_is_retried_with_backoff(stack, http, server):
    path = server.route("/flaky", Reply(503, "busy"), Reply(200, {"ok": True}))
    tenant = await tenant_with(stack, [webhook("order_status", server.url(path))])
    m = marker("flaky")
    stack.aimock.add(
        {"match": {"userMessage": m, "hasToolResult": True}, "response": {"content": "done"}},
        {
            "match": {"userMessage": m},
            "response": {"toolCalls": [{"name": "order_status", "arguments": {"order_id": "1"}}]},
        },
    )

    events = await chat(http, tenant, "support-openai", f"Check {m}")

    [result] = named(events, "tool_result")
    assert (result["is_error"], result["result"]) == (False, '{"ok":true}')
    assert len(server.seen(path)) == 2


async def test_ssrf_attempts_are_refused_before_connecting(stack, http, server, internal):
    port = server.port
    redirect = server.route(
        "/redirect", Reply(302, "", headers={"Location": internal.url("/admin", "127.0.0.1")})
    )
    attempts = {
        "loopback": f"https://127.0.0.1:{port}/hook",
        "loopback_http": f"http://127.0.0.1:{port}/hook",
        "private": "https://10.0.0.1/hook",
        "metadata": "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
        "metadata_name": "http://metadata.google.internal/computeMetadata/v1/",
        "hex": f"https://0x7f000001:{port}/hook",
        "decimal": f"https://2130706433:{port}/hook",
        "octal": f"https://017700000001:{port}/hook",
        "short": f"https://127.1:{port}/hook",
        "ipv6": f"https://[::1]:{port}/hook",
        "mapped": f"https://[::ffff:127.0.0.1]:{port}/hook",
        "redirect": server.url(redirect),
    }
    tenant = await tenant_with(stack, [webhook(f"ssrf_{k}", url) for k, url in attempts.items()])
    m = marker("ssrf")
    stack.aimock.add(
        {"match": {"userMessage": m, "hasToolResult": True}, "response": {"content": "Those are blocked."}},
        {
            "match": {"userMessage": m},
            "response": {
                "toolCalls": [{"name": f"ssrf_{k}", "arguments": {"order_id": "1"}} for k in attempts]
            },
        },
    )

    events = await chat(http, tenant, "support-openai", f"Reach inside {m}")

    results = {r["name"]: r for r in named(events, "tool_result")}
    assert set(results) == {f"ssrf_{k}" for k in attempts}
    assert all(r["is_error"] for r in results.values())
    for key in attempts:
        expected = "redirects are not followed" if key == "redirect" else "cannot be called"
        assert expected in results[f"ssrf_{key}"]["result"], key
    # Only the allow-listed redirecting hook was contacted, once; nothing else opened a socket.
    assert server.connections == 1 and [r.path for r in server.requests] == ["/redirect"]
    assert internal.connections == 0
    assert named(events, "message")[0]["text"] == "Those are blocked."
