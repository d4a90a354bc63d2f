"""Issue #9 "done when": while one tenant attacks the parsers (items 1-3: YAML bombs and
node floods on import, deep JSON on every endpoint, lone surrogates, a backtracking
pattern on an action), a second tenant's chat keeps answering, p95 under 1 s.

The attack is bounded (six concurrent loops, each pausing `PAUSE_S` between requests,
for `ATTACK_S` seconds, loopback only);
every attack request must get a 4xx JSON error, never a 5xx.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import yaml

from tests.admin.helpers import Admin, marker, platform_admin
from tests.admin.test_hostile_bundles import alias_bomb, bundle_with_config
from tests.e2e.conftest import make_tenant

ATTACK_S = 8.0
PAUSE_S = 0.05  # per attack loop: six loops stay under ~120 requests/s
DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_a_tenant_attacking_the_parsers_does_not_slow_another_tenants_chat(stack, http):
    attacker = await make_tenant(stack, to="gcs")
    victim = await make_tenant(stack)
    admin = Admin(http, (await platform_admin(http)).headers, tenant=attacker.id)
    redos = {"type": "object", "properties": {"q": {"type": "string", "pattern": "^(a+)+$"}}}
    resp = await admin.patch(
        "/assistants/support-openai", {"actions": {"lookup": {"template": "{q}", "input_schema": redos}}}
    )
    assert resp.status_code == 200, resp.text
    exported = yaml.safe_load((await admin.get("/config/export")).text)
    bomb = bundle_with_config(exported, alias_bomb(9))
    flood = bundle_with_config(exported, "wide: [" + ", ".join(["1"] * 30_000) + "]")
    json_headers = {"Content-Type": "application/json"}

    stack.aimock.add({"match": {"userMessage": "victim-"}, "response": {"content": "fine"}})
    thread = (await http.post("/start", json={}, headers=victim.auth)).json()["thread_id"]
    warm = await http.post(
        "/chat", json={"thread_id": thread, "message": marker("victim")}, headers=victim.auth
    )
    assert warm.status_code == 200, warm.text

    deadline = time.monotonic() + ATTACK_S
    statuses: list[int] = []

    async def attack(client: httpx.AsyncClient, send) -> None:  # type: ignore[no-untyped-def]
        while time.monotonic() < deadline:
            resp = await send(client)
            statuses.append(resp.status_code)
            await asyncio.sleep(PAUSE_S)

    def imports(text: str):  # type: ignore[no-untyped-def]
        return lambda c: c.post(
            "/admin/config/import",
            content=text,
            headers={**admin.headers, "X-Tenant-Id": attacker.id, "Content-Type": "application/yaml"},
        )

    senders = [
        imports(bomb),
        imports(flood),
        lambda c: c.post("/admin/auth/login", content=DEEP, headers=json_headers),
        lambda c: c.post("/chat", content=DEEP, headers={**attacker.auth, **json_headers}),
        lambda c: c.post(
            "/chat/assistants/support-openai/actions/lookup",
            json={"input": {"q": "a" * 27 + "!"}},
            headers=attacker.auth,
        ),
        lambda c: c.post(
            "/start",
            content=b'{"metadata": {"k": "\\ud800"}}',
            headers={**attacker.auth, **json_headers},
        ),
    ]

    latencies: list[float] = []

    async def chat_as_victim() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            resp = await http.post(
                "/chat", json={"thread_id": thread, "message": marker("victim")}, headers=victim.auth
            )
            latencies.append(time.monotonic() - started)
            assert resp.status_code == 200, resp.text
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        await asyncio.gather(chat_as_victim(), *(attack(client, send) for send in senders))

    assert statuses and all(400 <= s < 500 for s in statuses), sorted(set(statuses))
    assert len(latencies) >= 10
    p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"victim chats: {len(latencies)}, p95 {p95 * 1000:.0f} ms; attack requests: {len(statuses)}")
    assert p95 < 1.0
