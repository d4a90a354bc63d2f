"""What a key's app offers, and actions defined without code."""

from __future__ import annotations

import json

from tests.e2e.conftest import make_tenant, parse_sse, upstream_requests

PLAN = {
    "description": "A monthly budget plan",
    "template": "Make a budget plan for a monthly income of {income} {currency} with goals {goals}.",
    "input_schema": {
        "type": "object",
        "properties": {
            "income": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "enum": ["EUR", "USD"]},
            "goals": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["income", "currency"],
        "additionalProperties": False,
    },
}


def with_action(data):
    data["assistants"][0]["actions"] = {"budget-plan": PLAN}
    data["assistants"][0]["is_streaming"] = True


async def test_assistants_list_hides_prompt_model_and_keys(stack, http):
    tenant = await make_tenant(stack, mutate=with_action)
    resp = await http.get("/chat/assistants", headers=tenant.auth)
    assert resp.status_code == 200
    body = resp.json()
    assert [a["slug"] for a in body["assistants"]] == ["support-cohere", "support-gemini", "support-openai"]
    openai_assistant = next(a for a in body["assistants"] if a["slug"] == "support-openai")
    assert openai_assistant["is_streaming"] is True
    assert openai_assistant["actions"]["budget-plan"]["input_schema"] == PLAN["input_schema"]
    assert (
        "helpful support agent" not in resp.text
        and "m-openai" not in resp.text
        and "c-openai" not in resp.text
    )
    one = await http.get("/chat/assistants/support-openai", headers=tenant.auth)
    assert one.json() == openai_assistant
    assert (await http.get("/chat/assistants/unknown", headers=tenant.auth)).status_code == 404


async def test_action_validates_renders_and_runs_a_turn(stack, http):
    tenant = await make_tenant(stack, mutate=with_action)
    stack.aimock.add(
        {"match": {"userMessage": "monthly income of 3200"}, "response": {"content": "Your plan: ..."}}
    )
    resp = await http.post(
        "/chat/assistants/support-openai/actions/budget-plan",
        json={"input": {"income": 3200, "currency": "EUR", "goals": ["travel"]}, "stream": False},
        headers=tenant.auth,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["responses"] == ["Your plan: ..."]
    sent = json.dumps(upstream_requests(stack, "monthly income of 3200")[-1]["body"])
    assert 'Make a budget plan for a monthly income of 3200 EUR with goals [\\"travel\\"].' in sent

    streamed = await http.post(
        "/chat/assistants/support-openai/actions/budget-plan",
        json={"input": {"income": 3200, "currency": "USD"}},
        headers=tenant.auth,
    )
    assert [n for n, _ in parse_sse(streamed.text)][-1] == "done"  # the assistant streams by default


async def test_action_input_is_validated_against_its_schema(stack, http):
    tenant = await make_tenant(stack, mutate=with_action)
    url = "/chat/assistants/support-openai/actions/budget-plan"
    upstream_before = len(stack.aimock.journal())
    bad = await http.post(url, json={"input": {"income": -1, "currency": "EUR"}}, headers=tenant.auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "input.income"
    missing = await http.post(url, json={"input": {"income": 10}}, headers=tenant.auth)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "input.currency"
    unknown = await http.post(
        "/chat/assistants/support-openai/actions/nope", json={"input": {}}, headers=tenant.auth
    )
    assert unknown.status_code == 404
    assert len(stack.aimock.journal()) == upstream_before  # refused before any upstream call
