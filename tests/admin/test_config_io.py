"""Config export (effective YAML) and import (validated, to GCS, used by chat within 10 s)."""

from __future__ import annotations

import json

import yaml

from tests.admin.helpers import Admin, marker, poll
from tests.e2e.conftest import make_tenant, upstream_requests


async def test_export_is_the_effective_config_without_secret_values(stack, http, platform):
    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    await admin.patch("/assistants/support-openai", {"system_prompt": "From Firestore."})
    resp = await admin.get("/config/export")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/yaml")
    data = yaml.safe_load(resp.text)
    assert data["tenant"]["id"] == tenant.id
    prompts = {a["id"]: a["system_prompt"] for a in data["assistants"]}
    assert prompts["support-openai"] == "From Firestore."  # overlay wins
    assert "helpful support agent (cohere)" in prompts["support-cohere"]  # bundle
    assert {c["id"] for c in data["credentials"]} == {"c-openai", "c-cohere", "c-gemini"}
    assert "secretvalue" not in resp.text  # make_tenant's keys end with "secretvalue"


async def test_import_validates_and_chat_uses_the_new_bundle(stack, http, platform):
    tenant = await make_tenant(stack, to="gcs")
    admin = Admin(http, platform.headers, tenant=tenant.id)
    exported = yaml.safe_load((await admin.get("/config/export")).text)

    wrong_tenant = {**exported, "tenant": {**exported["tenant"], "id": "someone-else"}}
    resp = await admin.call(
        "POST",
        "/config/import",
        content=yaml.safe_dump(wrong_tenant),
        headers={"Content-Type": "application/yaml"},
    )
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "tenant.id"

    typo = json.loads(json.dumps(exported))
    typo["assistants"][0]["sytem_prompt"] = "typo"
    resp = await admin.call(
        "POST", "/config/import", content=yaml.safe_dump(typo), headers={"Content-Type": "application/yaml"}
    )
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "assistants.0.sytem_prompt"

    dangling = json.loads(json.dumps(exported))
    dangling["assistants"][0]["model_id"] = "no-such-model"
    resp = await admin.post("/config/import", dangling)
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "assistants.0.model_id"

    bad_yaml = await admin.call(
        "POST", "/config/import", content=b"tenant: [", headers={"Content-Type": "application/yaml"}
    )
    assert bad_yaml.status_code == 422

    new = json.loads(json.dumps(exported))
    for a in new["assistants"]:
        if a["id"] == "support-openai":
            a["system_prompt"] = "You are the IMPORTED prompt."
    resp = await admin.call(
        "POST", "/config/import", content=yaml.safe_dump(new), headers={"Content-Type": "application/yaml"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["counts"]["assistants"] == 3 and resp.json()["overridden_by_firestore"] == {}

    stack.aimock.add({"match": {"userMessage": "imported-"}, "response": {"content": "ok"}})
    thread = (await http.post("/start", json={"assistant": "support-openai"}, headers=tenant.auth)).json()[
        "thread_id"
    ]

    async def uses_import() -> bool:
        text = marker("imported")
        resp = await http.post("/chat", json={"thread_id": thread, "message": text}, headers=tenant.auth)
        assert resp.status_code == 200, resp.text
        return "IMPORTED prompt" in json.dumps(upstream_requests(stack, text)[-1]["body"])

    assert await poll(uses_import, timeout=10) < 10
    audit = (await admin.get("/audit")).json()["items"]
    assert audit[0]["action"] == "import" and audit[0]["collection"] == "config"
