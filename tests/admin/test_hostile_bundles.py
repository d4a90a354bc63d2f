"""Issue #9 items 1 and 5: hostile bundles and self-lifted limits, over HTTP.

1. A YAML alias bomb, an oversized, too deep or too wide bundle is refused
   (413/422 naming the reason) quickly and writes nothing; a bundle refused in
   GCS (written around the API) leaves chat on the last good config, with an
   error in the log, and a valid import through the API repairs it.
5. Budgets and rate limits are platform-owned: a tenant admin cannot lift them
   by PATCH or import (403 naming the field) but may import an unchanged
   export; the import's audit entry names what changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import yaml

from tests.admin.helpers import Admin, marker, poll, user_of
from tests.e2e.conftest import make_tenant, upstream_requests

YAML = {"Content-Type": "application/yaml"}


def alias_bomb(levels: int, width: int = 9) -> str:
    """Nested anchors in an assistant's free-form `config` (valid for the bundle's schema)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines)


def bundle_with_config(exported: dict[str, Any], config_yaml: str) -> str:
    """The exported bundle as YAML, with `config_yaml` (top-level keys) as the first
    assistant's `config`."""
    data = json.loads(json.dumps(exported))
    data["assistants"][0]["config"] = {"PLACEHOLDER": 1}
    text = yaml.safe_dump(data, sort_keys=False)
    assert "\n    PLACEHOLDER: 1\n" in text
    block = "\n".join("    " + line for line in config_yaml.splitlines())
    return text.replace("    PLACEHOLDER: 1", block)


async def _import(admin: Admin, text: str | bytes) -> Any:
    return await admin.call("POST", "/config/import", content=text, headers=YAML, timeout=30)


async def test_alias_bomb_and_oversized_bundles_are_refused_fast_and_write_nothing(stack, http, platform):
    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    exported = yaml.safe_load((await admin.get("/config/export")).text)
    before = (await admin.get("/config/export")).text
    audit_before = len((await admin.get("/audit")).json()["items"])

    bomb = bundle_with_config(exported, alias_bomb(9))  # ~1 KB, 9**10 strings once expanded
    assert len(bomb.encode()) < 8000
    started = time.monotonic()
    resp = await _import(admin, bomb)
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["field"] == "body" and "aliases" in err["message"]
    assert time.monotonic() - started < 5

    deep = bundle_with_config(exported, "deep: " + "[" * 40 + "]" * 40)
    resp = await _import(admin, deep)
    assert resp.status_code == 422 and "nested deeper than 32" in resp.json()["error"]["message"], resp.text

    wide = bundle_with_config(exported, "wide: [" + ", ".join(["1"] * 30_000) + "]")
    resp = await _import(admin, wide)
    assert resp.status_code == 422 and "more than 20000 YAML nodes" in resp.json()["error"]["message"], (
        resp.text
    )

    big = bundle_with_config(exported, "big: " + "x" * (1024 * 1024))
    resp = await _import(admin, big)
    assert resp.status_code == 413, resp.text

    deep_json = b'{"tenant": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    resp = await admin.call(
        "POST", "/config/import", content=deep_json, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "body", resp.text

    # Nothing was written: the same config, no audit entry, and the instance is fine.
    assert (await admin.get("/config/export")).text == before
    assert len((await admin.get("/audit")).json()["items"]) == audit_before
    assert (await http.get("/health")).status_code == 200


async def test_a_refused_bundle_in_gcs_keeps_the_last_good_config_until_a_valid_import(stack, http, platform):
    from common.config.source import upload_bundle

    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    exported = yaml.safe_load((await admin.get("/config/export")).text)
    stack.aimock.add({"match": {"userMessage": "lastgood-"}, "response": {"content": "ok"}})
    thread = (await http.post("/start", json={"assistant": "support-openai"}, headers=tenant.auth)).json()[
        "thread_id"
    ]

    async def chat() -> str:
        text = marker("lastgood")
        resp = await http.post("/chat", json={"thread_id": thread, "message": text}, headers=tenant.auth)
        assert resp.status_code == 200, resp.text
        return json.dumps(upstream_requests(stack, text)[-1]["body"])

    assert "helpful support agent (openai)" in await chat()  # the good bundle is loaded

    # Written around the API (as before the limits existed): aliases, and a new prompt.
    changed = json.loads(json.dumps(exported))
    changed["assistants"] = [
        {**a, "system_prompt": "From the REFUSED bundle."} if a["id"] == "support-openai" else a
        for a in changed["assistants"]
    ]
    await asyncio.to_thread(upload_bundle, tenant.id, bundle_with_config(changed, alias_bomb(3)))

    async def refused_logged() -> bool:
        assert "REFUSED bundle" not in await chat()  # still the last good config
        return f'"tenant": "{tenant.id}"' in _refusals(stack)

    await poll(refused_logged, timeout=20, interval=0.5)

    # The API repairs it: a valid import replaces the stored bundle, chat follows.
    fixed = json.loads(json.dumps(exported))
    fixed["assistants"] = [
        {**a, "system_prompt": "From the REPAIRED bundle."} if a["id"] == "support-openai" else a
        for a in fixed["assistants"]
    ]
    resp = await _import(admin, yaml.safe_dump(fixed))
    assert resp.status_code == 200, resp.text

    async def repaired() -> bool:
        return "REPAIRED bundle" in await chat()

    await poll(repaired, timeout=15, interval=0.5)


def _refusals(stack) -> str:
    text = stack.functions.log_path.read_text(errors="replace")
    return "\n".join(line for line in text.splitlines() if "stored bundle refused" in line)


# Item 5 -----------------------------------------------------------------------------


async def test_a_tenant_admin_cannot_lift_platform_limits_and_chats_stay_stopped(stack, http, platform):
    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    tenant_admin = await user_of(http, platform, tenant.id, "tenant_admin")

    resp = await platform.patch(f"/tenants/{tenant.id}", {"daily_token_budget": 1})
    assert resp.status_code == 200 and resp.json()["daily_token_budget"] == 1, resp.text
    assert (await platform.get(f"/tenants/{tenant.id}")).json()["daily_token_budget"] == 1
    resp = await admin.patch("/apps/shop", {"rate_limit_per_minute": 120})
    assert resp.status_code == 200, resp.text

    # A budget of one token cannot cover a turn: chats stop once chat sees it (within 10 s).
    stack.aimock.add({"match": {"userMessage": "budget-"}, "response": {"content": "spent"}})
    thread = (await http.post("/start", json={"assistant": "support-openai"}, headers=tenant.auth)).json()[
        "thread_id"
    ]

    async def stopped() -> bool:
        r = await http.post(
            "/chat", json={"thread_id": thread, "message": marker("budget")}, headers=tenant.auth
        )
        return r.status_code == 429

    await poll(stopped, timeout=15, interval=1.0)

    exported = (await tenant_admin.get("/config/export")).text
    data = yaml.safe_load(exported)
    assert data["tenant"]["daily_token_budget"] == 1

    # The round trip of an unchanged export is accepted.
    resp = await tenant_admin.call("POST", "/config/import", content=exported, headers=YAML)
    assert resp.status_code == 200, resp.text

    # Lifting a budget or a rate limit by import or PATCH is refused, naming the field.
    without = json.loads(json.dumps(data))
    without["tenant"].pop("daily_token_budget")
    resp = await tenant_admin.call("POST", "/config/import", content=yaml.safe_dump(without), headers=YAML)
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "tenant.daily_token_budget", resp.text
    raised = json.loads(json.dumps(data))
    raised["apps"][0]["rate_limit_per_minute"] = 1_000_000
    resp = await tenant_admin.call("POST", "/config/import", content=yaml.safe_dump(raised), headers=YAML)
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "apps.0.rate_limit_per_minute"
    resp = await tenant_admin.patch("/apps/shop", {"rate_limit_per_minute": 1_000_000})
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "rate_limit_per_minute"
    resp = await tenant_admin.post(
        "/apps", {"name": "Other", "slug": "other", "rate_limit_per_minute": 10**6}
    )
    assert resp.status_code == 403 and resp.json()["error"]["field"] == "rate_limit_per_minute"
    resp = await tenant_admin.patch(f"/tenants/{tenant.id}", {"daily_token_budget": None})
    assert resp.status_code == 403

    # ... so chats stay stopped.
    await asyncio.sleep(1)
    resp = await http.post(
        "/chat", json={"thread_id": thread, "message": marker("budget")}, headers=tenant.auth
    )
    assert resp.status_code == 429

    # A platform admin may change them by import, and the audit entry names what changed.
    raised["tenant"]["daily_token_budget"] = 1_000_000
    resp = await admin.call("POST", "/config/import", content=yaml.safe_dump(raised), headers=YAML)
    assert resp.status_code == 200, resp.text
    entry = (await admin.get("/audit")).json()["items"][0]
    assert entry["action"] == "import"
    assert {"tenant.daily_token_budget", "apps.shop.rate_limit_per_minute"} <= set(entry["fields"])
    assert (await platform.get(f"/tenants/{tenant.id}")).json()["daily_token_budget"] == 1_000_000

    async def flowing() -> bool:
        r = await http.post(
            "/chat", json={"thread_id": thread, "message": marker("budget")}, headers=tenant.auth
        )
        return r.status_code == 200

    await poll(flowing, timeout=15, interval=1.0)
