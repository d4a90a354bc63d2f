"""Each template, as an operator uses it: fetch, validate, create, test, chat (JSON, SSE,
OpenAI-compatible), against aimock's Anthropic, OpenAI, Cohere, Gemini and Ollama APIs."""

from __future__ import annotations

import json

import pytest
from openai import AsyncOpenAI

from tests.admin.helpers import marker
from tests.sandbox.helpers import chat_sse, code_tenant, named

KINDS = ("anthropic", "openai", "openai_compatible", "cohere", "gemini", "ollama")


@pytest.mark.parametrize("kind", KINDS)
async def test_template_create_validate_test_and_chat(code_stack, chttp, cplatform, kind):
    tpl = await cplatform.get(f"/providers/code/template?kind={kind}")
    assert tpl.status_code == 200, tpl.text
    body = tpl.json()
    assert "async def stream(request" in body["python_code"] and body["required_dependencies"] == ["httpx"]
    checked = await cplatform.post(
        "/providers/code/validate",
        {k: body[k] for k in ("python_code", "config_schema", "required_dependencies", "validation_code")},
    )
    assert checked.status_code == 200 and checked.json() == {"valid": True, "problems": []}

    t = await code_tenant(cplatform, code_stack.aimock.url, kind)
    m = marker(kind)
    code_stack.aimock.add({"match": {"userMessage": m}, "response": {"content": f"Hello from {kind}."}})

    tested = await t.admin.post(
        f"/providers/{t.provider['id']}/test", {"credential_id": t.cred["id"], "message": f"hi {m}"}
    )
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["status"] == "ok", result
    assert [s["name"] for s in result["steps"]] == ["validate", "validation_code", "call"]
    assert result["reply"] == f"Hello from {kind}."

    resp = await chttp.post("/chat/app/shop/support", json={"message": f"json {m}"}, headers=t.auth)
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == [f"Hello from {kind}."] and resp.json()["provider"] == "code"

    events = await chat_sse(chttp, t, f"sse {m}")
    assert "".join(d["text"] for d in named(events, "delta")) == f"Hello from {kind}."
    assert events[-1][0] == "done"

    client = AsyncOpenAI(api_key=t.key, base_url=f"{code_stack.url}/chat/v1", max_retries=0)
    chunks = await client.chat.completions.create(
        model="support", messages=[{"role": "user", "content": f"compat {m}"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    assert text == f"Hello from {kind}."
    await client.close()

    # The key reached the upstream from the sandbox, and only in the vendor's auth header.
    sent = [e for e in code_stack.aimock.journal() if m in json.dumps(e.get("body"))]
    assert sent and all("secretvalue" not in json.dumps(e.get("body")) for e in sent)
