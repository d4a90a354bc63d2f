"""The native `POST /chat` side of the compatibility work: `finish_reason` on the JSON reply
and the SSE `message` event, and `response_format` as a request field or assistant setting."""

from __future__ import annotations

import httpx
import pytest

from tests.compat.conftest import Compat, marker, text_reply
from tests.e2e.conftest import PROVIDERS, parse_sse


async def _turn(compat: Compat, assistant: str, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=compat.stack.url, timeout=60) as http:
        return await http.post(
            f"/chat/app/shop/{assistant}", json=body, headers={"Authorization": f"Bearer {compat.key}"}
        )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_finish_reason_on_json_and_sse(compat: Compat, provider: str) -> None:
    m = marker("native-length")
    compat.add({"match": {"userMessage": m}, "response": {"content": "cut", "finishReason": "length"}})
    reply = await _turn(compat, f"support-{provider}", {"message": m})
    assert reply.status_code == 200, reply.text
    assert reply.json()["finish_reason"] == "length"
    streamed = await _turn(compat, f"support-{provider}", {"message": m, "stream": True})
    [message] = [data for name, data in parse_sse(streamed.text) if name == "message"]
    assert message["finish_reason"] == "length"

    ok = marker("native-stop")
    compat.add(text_reply(ok, "done"))
    assert (await _turn(compat, f"support-{provider}", {"message": ok})).json()["finish_reason"] == "stop"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_response_format_as_request_field(compat: Compat, provider: str) -> None:
    m = marker("native-schema")
    compat.add(text_reply(m, '{"answer": 42}'))
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "Answer", "schema": schema, "strict": True}}
    reply = await _turn(compat, f"support-{provider}", {"message": m, "response_format": fmt})
    assert reply.status_code == 200, reply.text
    body = compat.last(m)
    if provider == "openai":
        assert body["response_format"] == fmt
    elif provider == "cohere":
        assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    else:
        assert body["generationConfig"]["responseJsonSchema"] == schema


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_response_format_as_assistant_setting(compat: Compat, provider: str) -> None:
    m = marker("native-json")
    compat.add(text_reply(m, '{"ok": true}'))
    reply = await _turn(compat, f"json-{provider}", {"message": m})
    assert reply.status_code == 200, reply.text
    body = compat.last(m)
    if provider == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert body["response_format"]["type"] == "json_object"


async def test_bad_response_format_is_422_naming_it(compat: Compat) -> None:
    reply = await _turn(compat, "support-openai", {"message": "hi", "response_format": {"type": "yaml"}})
    assert reply.status_code == 422
    assert reply.json()["error"]["field"].startswith("response_format")
