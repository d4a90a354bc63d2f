"""The official openai SDK against `/chat/v1` with a client key."""

from __future__ import annotations

import json
import uuid

import openai
import pytest

from tests.e2e.conftest import make_tenant, upstream_requests


def sdk(stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=stack.url + "/chat/v1", max_retries=0)


async def test_models_lists_the_apps_assistants(stack):
    tenant = await make_tenant(stack)
    models = await sdk(stack, tenant.key).models.list()
    assert sorted(m.id for m in models.data) == ["support-cohere", "support-gemini", "support-openai"]


@pytest.mark.parametrize("assistant", ["support-openai", "support-cohere", "support-gemini"])
async def test_completion_uses_the_assistants_prompt_and_provider(stack, assistant):
    tenant = await make_tenant(stack)
    text = f"compat-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "compatible reply"}})
    client = sdk(stack, tenant.key)
    result = await client.chat.completions.create(
        model=assistant,
        messages=[
            {"role": "system", "content": "Extra caller instructions."},
            {"role": "user", "content": "earlier question"},
            {"role": "assistant", "content": "earlier answer"},
            {"role": "user", "content": text},
        ],
    )
    assert result.choices[0].message.content == "compatible reply"
    assert result.model == assistant and result.choices[0].finish_reason == "stop"
    sent = json.dumps(upstream_requests(stack, text)[-1]["body"])
    assert (
        "helpful support agent" in sent and "Extra caller instructions." in sent and "earlier answer" in sent
    )


async def test_streaming_completion_ends_with_done_and_usage(stack):
    tenant = await make_tenant(stack)
    text = f"compat-stream-{uuid.uuid4().hex[:8]}"
    reply = "a streamed reply in several chunks of text"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": reply}})
    stream = await sdk(stack, tenant.key).chat.completions.create(
        model="support-openai",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, usage, finish = [], None, None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert "".join(parts) == reply and finish == "stop"
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_unknown_model_is_404_and_bad_key_is_401(stack):
    tenant = await make_tenant(stack)
    with pytest.raises(openai.NotFoundError):
        await sdk(stack, tenant.key).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.AuthenticationError):
        await sdk(stack, "ak_wrong").models.list()


async def test_upstream_failure_is_a_502_api_error(stack):
    tenant = await make_tenant(stack)
    text = f"compat-fail-{uuid.uuid4().hex[:8]}"
    stack.aimock.add(
        {
            "match": {"userMessage": text},
            "response": {"error": {"message": "x", "type": "server_error"}, "status": 500},
        }
    )
    with pytest.raises(openai.InternalServerError) as exc:
        await sdk(stack, tenant.key).chat.completions.create(
            model="support-openai", messages=[{"role": "user", "content": text}]
        )
    assert exc.value.status_code == 502
