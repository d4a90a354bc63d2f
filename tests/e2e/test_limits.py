"""Rate limits per client key and tenant budgets: 429 with Retry-After, before any upstream call."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import make_tenant, upstream_requests


async def test_rate_limit_per_client_key_is_429_with_retry_after(stack, http):
    # 3 a minute: /start draws from the key's bucket too, then two chats pass and one is refused.
    tenant = await make_tenant(stack, mutate=lambda d: d["apps"][0].update(rate_limit_per_minute=3))
    text = f"limited-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "ok"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    statuses = []
    for _ in range(3):
        resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
        statuses.append(resp.status_code)
    assert statuses == [200, 200, 429]
    assert int(resp.headers["Retry-After"]) >= 1 and resp.json()["error"]["type"] == "rate_limited"
    assert len(upstream_requests(stack, text)) == 2
    messages = (await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)).json()["messages"]
    assert len(messages) == 4  # the refused turn stored nothing


async def test_budget_that_cannot_cover_a_turn_refuses_it_before_storing(stack, http):
    tenant = await make_tenant(stack, mutate=lambda d: d["tenant"].update(daily_token_budget=1))
    text = f"daycap-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "never sent"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert resp.status_code == 429 and "budget" in resp.json()["error"]["message"]
    assert int(resp.headers["Retry-After"]) > 0
    assert upstream_requests(stack, text) == []
    messages = (await http.get(f"/chat/threads/{thread_id}/messages", headers=tenant.auth)).json()["messages"]
    assert messages == []


async def test_spent_daily_budget_refuses_new_turns(stack, http):
    def small_budget(d):
        d["tenant"]["daily_token_budget"] = 600
        for a in d["assistants"]:
            a["max_output_tokens"] = 20

    tenant = await make_tenant(stack, mutate=small_budget)
    text = f"daycap-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "this reply spends tokens"}})
    thread_id = (await http.post("/start", json={}, headers=tenant.auth)).json()["thread_id"]
    first = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
    assert first.status_code == 200 and first.json()["usage"]["output_tokens"] > 0
    for _ in range(20):  # each turn reserves its worst case; the history grows until it cannot
        resp = await http.post("/chat", json={"thread_id": thread_id, "message": text}, headers=tenant.auth)
        if resp.status_code == 429:
            break
    assert resp.status_code == 429 and "budget" in resp.json()["error"]["message"]
    assert int(resp.headers["Retry-After"]) > 0
