"""Agent frameworks on the OpenAI-compatible endpoint: LangChain's `ChatOpenAI` and
pydantic-ai, on OpenAI, Cohere and Gemini assistants."""

from __future__ import annotations

import json

import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.compat.conftest import Compat, marker, text_reply, tool_calls_reply
from tests.e2e.conftest import PROVIDERS


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    temperature: int


def chat_model(compat: Compat, provider: str) -> ChatOpenAI:
    return ChatOpenAI(
        model=f"support-{provider}", base_url=compat.base_url, api_key=compat.key, max_retries=0
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_langchain_bind_tools(compat: Compat, provider: str) -> None:
    m = marker("lc-tools")
    compat.add(tool_calls_reply(m, ("Weather", {"city": "Paris", "temperature": 21})))
    reply = await chat_model(compat, provider).bind_tools([Weather]).ainvoke(m)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("Weather", {"city": "Paris", "temperature": 21})
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_langchain_structured_output_by_function_calling(compat: Compat, provider: str) -> None:
    m = marker("lc-fc")
    compat.add(tool_calls_reply(m, ("Weather", {"city": "Oslo", "temperature": -3})))
    structured = chat_model(compat, provider).with_structured_output(Weather, method="function_calling")
    assert await structured.ainvoke(m) == Weather(city="Oslo", temperature=-3)
    body = compat.last(m)
    if provider == "openai":  # LangChain forces the call and asks for one call only
        assert body["tool_choice"]["function"]["name"] == "Weather"
        assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_langchain_structured_output_by_json_schema(compat: Compat, provider: str) -> None:
    m = marker("lc-js")
    compat.add(text_reply(m, json.dumps({"city": "Rome", "temperature": 30})))
    structured = chat_model(compat, provider).with_structured_output(Weather, method="json_schema")
    assert await structured.ainvoke(m) == Weather(city="Rome", temperature=30)
    body = compat.last(m)
    if provider == "gemini":
        assert body["generationConfig"]["responseJsonSchema"]["required"] == ["city", "temperature"]
    elif provider == "cohere":
        assert body["response_format"]["json_schema"]["required"] == ["city", "temperature"]
    else:
        assert body["response_format"]["json_schema"]["name"] == "Weather"


def agent_model(compat: Compat, provider: str) -> OpenAIChatModel:
    return OpenAIChatModel(
        f"support-{provider}", provider=OpenAIProvider(base_url=compat.base_url, api_key=compat.key)
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_pydantic_ai_agent_calls_its_tool(compat: Compat, provider: str) -> None:
    m = marker("pai-tool")
    compat.add(
        tool_calls_reply(m, ("shipping_days", {"country": "NO"})),
        {
            "match": {"userMessage": m, "toolResultContains": "4"},
            "response": {"content": "Shipping to Norway takes 4 days."},
        },
    )
    asked: list[str] = []
    agent = Agent(agent_model(compat, provider))

    @agent.tool_plain
    def shipping_days(country: str) -> int:
        """Days to ship to a country."""
        asked.append(country)
        return 4

    result = await agent.run(f"How long to ship to Norway? {m}")
    assert asked == ["NO"] and result.output == "Shipping to Norway takes 4 days."


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_pydantic_ai_structured_output(compat: Compat, provider: str) -> None:
    m = marker("pai-out")
    compat.add(tool_calls_reply(m, ("final_result", {"city": "Lima", "temperature": 18})))
    agent = Agent(agent_model(compat, provider), output_type=Weather)
    result = await agent.run(f"Weather in Lima? {m}")
    assert result.output == Weather(city="Lima", temperature=18)
