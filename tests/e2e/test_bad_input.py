"""Bad input: the SPEC status, a JSON error, and nothing stored."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import make_tenant


async def _thread(http, tenant) -> str:
    resp = await http.post("/start", json={}, headers=tenant.auth)
    assert resp.status_code == 201, resp.text
    return resp.json()["thread_id"]


async def _messages(http, tenant, thread_id) -> list:
    resp = await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)
    assert resp.status_code == 200
    return resp.json()["messages"]


def _assert_error(resp, status: int, type_: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["message"] and err["request_id"] and err["type"]
    if type_:
        assert err["type"] == type_
    return err


@pytest.mark.parametrize(
    ("label", "body", "status", "field"),
    [
        ("not json", b"{not json", 400, None),
        ("missing message", {"thread_id": "__THREAD__"}, 422, "message"),
        ("empty message", {"thread_id": "__THREAD__", "message": "   "}, 422, "message"),
        ("message over 32 KiB", {"thread_id": "__THREAD__", "message": "x" * (32 * 1024 + 1)}, 413, None),
        ("unknown field", {"thread_id": "__THREAD__", "message": "hi", "colour": "red"}, 422, "colour"),
        ("wrong type", {"thread_id": "__THREAD__", "message": 42}, 422, "message"),
    ],
)
async def test_bad_chat_bodies_are_refused_and_store_nothing(stack, http, label, body, status, field):
    tenant = await make_tenant(stack)
    thread_id = await _thread(http, tenant)
    if isinstance(body, dict):
        body = {k: (thread_id if v == "__THREAD__" else v) for k, v in body.items()}
        resp = await http.post("/chat", json=body, headers=tenant.auth)
    else:
        resp = await http.post(
            "/chat", content=body, headers={**tenant.auth, "Content-Type": "application/json"}
        )
    err = _assert_error(resp, status)
    if field:
        assert err.get("field") == field, label
    assert await _messages(http, tenant, thread_id) == []


async def test_body_over_1_mib_is_413(stack, http):
    tenant = await make_tenant(stack)
    resp = await http.post("/chat", content=b"{" + b" " * (1024 * 1024 + 10) + b"}", headers=tenant.auth)
    _assert_error(resp, 413, "payload_too_large")


async def test_unknown_thread_is_404(stack, http):
    tenant = await make_tenant(stack)
    resp = await http.post(
        "/chat", json={"thread_id": "th_doesnotexist", "message": "hi"}, headers=tenant.auth
    )
    _assert_error(resp, 404, "not_found")


async def test_another_apps_thread_is_404_and_untouched(stack, http):
    def two_apps(data):
        data["apps"].append({"id": "blog", "name": "Blog", "slug": "blog"})
        data["assistants"].append(
            {**data["assistants"][0], "id": "writer", "slug": "writer", "app_id": "blog"}
        )

    tenant = await make_tenant(stack, mutate=two_apps, apps=("shop", "blog"))
    from common.auth.client_keys import create_client_key

    _, blog_key = await create_client_key(tenant.id, "blog", "blog key")
    thread_id = await _thread(http, tenant)  # a thread of app "shop"
    resp = await http.post(
        "/chat",
        json={"thread_id": thread_id, "message": "hi"},
        headers={"Authorization": f"Bearer {blog_key}"},
    )
    _assert_error(resp, 404)
    resp = await http.get(
        f"/chat/threads/{thread_id}/messages", headers={"Authorization": f"Bearer {blog_key}"}
    )
    _assert_error(resp, 404)
    assert await _messages(http, tenant, thread_id) == []


async def test_another_tenants_thread_is_404_and_untouched(stack, http):
    a, b = await make_tenant(stack), await make_tenant(stack)
    thread_id = await _thread(http, a)
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": "hi"}, headers=b.auth)
    _assert_error(resp, 404)
    resp = await http.get(f"/chat/threads/{thread_id}/messages", headers=b.auth)
    _assert_error(resp, 404)
    assert await _messages(http, a, thread_id) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer ak_wrong-key-000000000000000000000000"}, {"Authorization": "Basic abc"}],
    ids=["no key", "wrong key", "not bearer"],
)
async def test_missing_or_wrong_key_is_401(stack, http, headers):
    resp = await http.post("/chat", json={"thread_id": "x", "message": "hi"}, headers=headers)
    _assert_error(resp, 401, "unauthorized")
    resp = await http.post("/start", json={}, headers=headers)
    _assert_error(resp, 401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), [("GET", "/chat"), ("DELETE", "/start"), ("PUT", "/chat")])
async def test_wrong_method_is_405(stack, http, method, path):
    tenant = await make_tenant(stack)
    resp = await http.request(method, path, headers=tenant.auth)
    _assert_error(resp, 405, "method_not_allowed")
    assert "Allow" in resp.headers


async def test_unknown_path_is_json_404(stack, http):
    resp = await http.get("/chat/nope/nope")
    _assert_error(resp, 404)
