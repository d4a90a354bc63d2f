"""The official openai SDK against `/chat/v1` with a client key."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
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


async def test_a_caller_leaving_before_the_first_token_leaves_the_instance_clean(stack):
    """The model call starts with the response (not when its body is first read); a caller
    that hangs up during the model's silence stops it, nothing is left failing behind, and
    the instance goes on serving."""
    tenant = await make_tenant(stack)
    text = f"compat-leave-{uuid.uuid4().hex[:8]}"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": "too late"}, "latency": 400})
    body = {"model": "support-openai", "messages": [{"role": "user", "content": text}], "stream": True}
    headers = {"Authorization": f"Bearer {tenant.key}"}
    log_before = stack.functions.log_path.read_text(errors="replace")
    url = stack.url + "/chat/v1/chat/completions"
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200
        role = await resp.content.readuntil(b"\n\n")
        assert b'"role": "assistant"' in role or b'"role":"assistant"' in role
    # hung up while the upstream is still silent (400 ms per chunk)
    await asyncio.sleep(1.0)  # past the upstream's first chunk: whatever was left would fail now
    after = stack.functions.log_path.read_text(errors="replace")[len(log_before) :]
    assert "never retrieved" not in after and "Traceback" not in after, after[-2000:]
    followup = await sdk(stack, tenant.key).chat.completions.create(
        model="support-openai", messages=[{"role": "user", "content": "hello"}]
    )
    assert followup.choices[0].message.content
