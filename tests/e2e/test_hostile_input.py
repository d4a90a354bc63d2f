"""Issue #9 items 2, 3 and 10 (scopes, /start limits, webhook URLs), over HTTP.

2. Tenant JSON Schemas: checked when written (422 naming the field), never
   fetched from elsewhere, patterns on RE2 (no catastrophic backtracking).
3. Deeply nested JSON and lone surrogates: 400/422 JSON errors on every
   endpoint, the unauthenticated login included; never a 500.
10. Client-key scopes are enforced; `/start` is rate limited and its metadata
    capped at 16 KiB; webhook URLs the call-time guard refuses are refused
    when written.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from common.store import records
from tests.admin.helpers import Admin, platform_admin
from tests.e2e.conftest import make_tenant
from tests.tools.hookserver import HookServer, Reply

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture()
async def listener() -> AsyncIterator[HookServer]:
    """Stands for an internal service a schema `$ref` must never reach."""
    srv = await HookServer().start()
    srv.route("/schema.json", Reply(200, {"type": "string"}))
    yield srv
    await srv.stop()


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    return dict(resp.json()["error"])


# Item 3 -----------------------------------------------------------------------------


async def test_deep_json_is_a_400_on_every_endpoint(stack, http):
    tenant = await make_tenant(stack)
    platform = await platform_admin(http)
    key = tenant.auth
    token = {**platform.headers, "X-Tenant-Id": tenant.id}
    targets = [
        ("/admin/auth/login", {}),
        ("/start", key),
        ("/chat", key),
        ("/chat/app/shop/support-openai", key),
        ("/chat/assistants/support-openai/actions/any", key),
        ("/chat/v1/chat/completions", key),
        ("/admin/apps", token),
        ("/admin/config/import", token),
    ]
    for path, headers in targets:
        resp = await http.post(path, content=DEEP, headers={**headers, "Content-Type": "application/json"})
        assert resp.status_code in (400, 404, 422), (path, resp.text)
        if resp.status_code != 404:  # the action does not exist: 404 before the body is read
            err = _error(resp, resp.status_code)
            assert "nested" in err["message"], (path, err)
    assert "RecursionError" not in stack.functions.log_path.read_text(errors="replace")


async def test_a_lone_surrogate_is_a_422_naming_the_field_and_stores_nothing(stack, http):
    tenant = await make_tenant(stack)
    thread = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    body = b'{"thread_id": "' + thread.encode() + b'", "message": "hi \\ud800 there"}'
    resp = await http.post("/chat", content=body, headers={**tenant.auth, "Content-Type": "application/json"})
    assert _error(resp, 422)["field"] == "message"
    login = await http.post(
        "/admin/auth/login",
        content=b'{"username": "\\udfff", "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert _error(login, 422)["field"] == "username"
    paired = b'{"thread_id": "' + thread.encode() + b'", "message": "\\ud83d\\ude00"}'
    stack.aimock.add({"match": {"userMessage": "\U0001f600"}, "response": {"content": "smile"}})
    ok = await http.post("/chat", content=paired, headers={**tenant.auth, "Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text
    messages = (await http.get(f"/chat/threads/{thread}/messages", headers=tenant.auth)).json()["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["\U0001f600"]


# Item 2 -----------------------------------------------------------------------------


def _action(schema: dict) -> dict:
    return {"actions": {"lookup": {"template": "Look up {q}", "input_schema": schema}}}


async def test_unsafe_schemas_are_refused_when_written_naming_the_field(stack, http, listener):
    tenant = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=tenant.id)
    remote = f"http://127.0.0.1:{listener.port}/schema.json"
    cases = [
        ({"type": "nonsense"}, "actions.lookup.input_schema.type"),
        ({"type": "string", "pattern": "["}, "actions.lookup.input_schema.pattern"),
        ({"properties": {"q": {"pattern": "(?=x)a"}}}, "actions.lookup.input_schema.properties.q.pattern"),
        ({"properties": {"q": {"$ref": remote}}}, "actions.lookup.input_schema.properties.q.$ref"),
        ({"$ref": "file:///etc/passwd"}, "actions.lookup.input_schema.$ref"),
    ]
    for schema, field in cases:
        resp = await admin.patch("/assistants/support-openai", _action(schema))
        assert _error(resp, 422)["field"] == field, schema
    params = {"type": "object", "properties": {"q": {"$ref": remote}}}
    tool = {"name": "lookup", "url": "https://hooks.example.com/x", "parameters": params}
    resp = await admin.post("/tools", tool)
    assert _error(resp, 422)["field"] == "parameters.properties.q.$ref"
    assert listener.connections == 0


async def test_a_backtracking_pattern_is_linear_and_a_stored_remote_ref_is_never_fetched(
    stack, http, listener
):
    tenant = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=tenant.id)
    redos = {"type": "object", "properties": {"q": {"type": "string", "pattern": "^(a+)+$"}}}
    resp = await admin.patch("/assistants/support-openai", _action(redos))
    assert resp.status_code == 200, resp.text
    started = time.monotonic()
    resp = await http.post(
        "/chat/assistants/support-openai/actions/lookup",
        json={"input": {"q": "a" * 27 + "!"}},
        headers=tenant.auth,
    )
    assert _error(resp, 422)["field"] == "input.q"
    assert time.monotonic() - started < 2  # Python's re needs ~9 s for this on this machine

    # A schema written around the API (straight to Firestore) with a remote $ref:
    # validation refuses to resolve it instead of fetching it.
    stored = await records.get_record(tenant.id, "assistants", "support-openai")
    stored["actions"] = _action(
        {"properties": {"q": {"$ref": f"http://127.0.0.1:{listener.port}/schema.json"}}}
    )["actions"]
    await records.put_record(tenant.id, "assistants", "support-openai", stored)

    async def refused() -> bool:
        r = await http.post(
            "/chat/assistants/support-openai/actions/lookup", json={"input": {"q": 1}}, headers=tenant.auth
        )
        assert r.status_code == 422, r.text
        return "unresolvable reference" in r.json()["error"]["message"]

    from tests.admin.helpers import poll

    await poll(refused, timeout=15, interval=0.5)
    assert listener.connections == 0


# Item 10 ----------------------------------------------------------------------------


async def test_client_key_scopes_are_enforced(stack, http):
    tenant = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=tenant.id)

    async def key(scopes: list[str]) -> dict[str, str]:
        resp = await admin.post("/client-keys", {"app_id": "shop", "scopes": scopes})
        assert resp.status_code == 201, resp.text
        return {"Authorization": f"Bearer {resp.json()['key']}"}

    resp = await admin.post("/client-keys", {"app_id": "shop", "scopes": ["admin"]})
    assert _error(resp, 422)["field"] == "scopes.0"
    thread = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    reader, actions = await key(["threads:read"]), await key(["actions"])

    assert (await http.get(f"/chat/threads/{thread}/messages", headers=reader)).status_code == 200
    for headers in (reader, actions):
        assert _error(await http.post("/start", json={}, headers=headers), 403)
        assert _error(
            await http.post("/chat", json={"thread_id": thread, "message": "hi"}, headers=headers), 403
        )
        assert _error(await http.get("/chat/v1/models", headers=headers), 403)
    assert (await http.get("/chat/assistants", headers=actions)).status_code == 200
    assert _error(await http.get("/chat/assistants", headers=reader), 403)
    assert _error(await http.get(f"/chat/threads/{thread}/messages", headers=actions), 403)


async def test_start_is_rate_limited_and_metadata_is_capped(stack, http):
    tenant = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=tenant.id)
    resp = await http.post("/start", json={"metadata": {"blob": "x" * (17 * 1024)}}, headers=tenant.auth)
    assert _error(resp, 413)["field"] == "metadata"
    resp = await http.post("/start", json={"metadata": {"blob": "x" * (15 * 1024)}}, headers=tenant.auth)
    assert resp.status_code == 201, resp.text

    assert (await admin.patch("/apps/shop", {"rate_limit_per_minute": 3})).status_code == 200
    fresh = await admin.post("/client-keys", {"app_id": "shop"})
    headers = {"Authorization": f"Bearer {fresh.json()['key']}"}

    async def limited() -> bool:  # the app's new limit reaches chat's config within 10 s
        statuses = [(await http.post("/start", json={}, headers=headers)).status_code for _ in range(4)]
        return 429 in statuses

    from tests.admin.helpers import poll

    await poll(limited, timeout=15, interval=1.0)
    resp = await http.post("/start", json={}, headers=headers)
    assert _error(resp, 429) and int(resp.headers["Retry-After"]) >= 1


async def test_webhook_urls_the_call_time_guard_refuses_are_refused_when_written(stack, http):
    tenant = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=tenant.id)
    spellings = [
        "https://2130706433/hook",
        "https://0x7f000001/hook",
        "https://127.1/hook",
        "https://[::127.0.0.1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://metadata/computeMetadata/v1/",
        "https://metadata.google.internal./computeMetadata/v1/",
        "https://169.254.169.254/latest",
    ]
    for index, url in enumerate(spellings):
        resp = await admin.post("/tools", {"name": f"hook{index}", "url": url})
        assert _error(resp, 422)["field"] == "url", url
    ok = await admin.post("/tools", {"name": "public", "url": "https://hooks.example.com/x"})
    assert ok.status_code == 201, ok.text
