"""Strict agent frameworks over real HTTP: the OpenAI Agents SDK (Responses API, its
default) and pydantic-ai (Responses and Chat Completions), each with a function
tool whose result must come back, against every provider kind. All offline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents import (
    Agent,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.openai import OpenAIResponsesModel as PydanticResponses
from pydantic_ai.providers.openai import OpenAIProvider

from .conftest import KindGateway


@pytest.fixture(autouse=True)
def _no_tracing() -> None:
    set_tracing_disabled(True)  # the Agents SDK would otherwise export traces to OpenAI


@function_tool
def get_weather(query: str) -> str:
    """The weather for a place."""
    return f"sunny in {query}"


def _agent(kg: KindGateway) -> Agent[Any]:
    client = AsyncOpenAI(base_url=kg.gw.openai_base_url, api_key=kg.key, max_retries=0)
    return Agent(name="assistant", instructions="Help the user.", tools=[get_weather],
                 model=OpenAIResponsesModel(model="chat", openai_client=client))


def test_agents_sdk_run_with_a_tool(kind_gateway: KindGateway) -> None:
    """The SDK's defaults: a model named by string, the default OpenAI client (Responses)."""
    client = AsyncOpenAI(base_url=kind_gateway.gw.openai_base_url, api_key=kind_gateway.key,
                         max_retries=0)
    set_default_openai_client(client, use_for_tracing=False)
    agent = Agent(name="assistant", instructions="Help the user.", tools=[get_weather],
                  model="chat")
    result = asyncio.run(Runner.run(agent, "Paris"))
    assert result.final_output == "The tool said: sunny in Paris"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]


def test_agents_sdk_run_streamed_with_a_tool(kind_gateway: KindGateway) -> None:
    async def run() -> tuple[Any, list[str]]:
        streamed = Runner.run_streamed(_agent(kind_gateway), "Rome")
        names = [e.name async for e in streamed.stream_events()
                 if e.type == "run_item_stream_event"]
        return streamed.final_output, names

    output, names = asyncio.run(run())
    assert output == "The tool said: sunny in Rome"
    assert names == ["tool_called", "tool_output", "message_output_created"]


@pytest.mark.parametrize("model_class", [PydanticResponses, OpenAIChatModel])
def test_pydantic_ai_with_a_tool(kind_gateway: KindGateway, model_class: Any) -> None:
    provider = OpenAIProvider(base_url=kind_gateway.gw.openai_base_url, api_key=kind_gateway.key)
    agent = PydanticAgent(model_class("chat", provider=provider), instructions="Help.")
    seen: list[str] = []

    @agent.tool_plain
    def weather(query: str) -> str:
        """The weather for a place."""
        seen.append(query)
        return f"rainy in {query}"

    result = agent.run_sync("Oslo")
    assert seen == ["Oslo"]
    assert result.output == "The tool said: rainy in Oslo"
    assert result.usage.input_tokens > 0
