"""``POST /v1/completions`` over real HTTP with the official SDK, against every provider kind."""

from __future__ import annotations

import openai
import pytest
from openai.types import Completion

from bastion.testing import GatewayServer

from .conftest import KindGateway


def client(kg: KindGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=kg.gw.openai_base_url, api_key=kg.key, max_retries=0)


def test_completion_from_a_string(kind_gateway: KindGateway) -> None:
    c = client(kind_gateway).completions.create(model="chat", prompt="Say hello", max_tokens=50)
    Completion.model_validate(c.model_dump())
    assert c.object == "text_completion"
    assert c.choices[0].text == "You said: Say hello"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage is not None
    assert c.usage.completion_tokens > 0
    if kind_gateway.kind == "openai":
        assert kind_gateway.upstream is not None
        sent = kind_gateway.upstream.received[-1].body
        assert sent["messages"] == [{"role": "user", "content": "Say hello"}]
        assert sent["max_tokens"] == 50


def test_completion_stream(kind_gateway: KindGateway) -> None:
    stream = client(kind_gateway).completions.create(
        model="chat", prompt="stream me", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert text == "You said: stream me"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_prompt_list_echo_and_indexes(gateway: GatewayServer) -> None:
    c = openai.OpenAI(base_url=gateway.openai_base_url, api_key=gateway.create_key(),
                      max_retries=0)
    out = c.completions.create(model="chat", prompt=["one", "two"], echo=True, n=2)
    assert [(ch.index, ch.text) for ch in out.choices] == [
        (0, "oneYou said: one"), (1, "oneYou said: one"),
        (2, "twoYou said: two"), (3, "twoYou said: two")]
    assert out.usage is not None
    assert out.usage.prompt_tokens == 2
    streamed = c.completions.create(model="chat", prompt=["a", "b"], stream=True)
    texts: dict[int, str] = {}
    for ch in streamed:
        for choice in ch.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: "You said: a", 1: "You said: b"}


def test_completion_refusals(gateway: GatewayServer) -> None:
    c = openai.OpenAI(base_url=gateway.openai_base_url, api_key=gateway.create_key(),
                      max_retries=0)
    with pytest.raises(openai.BadRequestError, match="token-id prompts"):
        c.completions.create(model="chat", prompt=[1, 2, 3])
    with pytest.raises(openai.BadRequestError, match="suffix"):
        c.completions.create(model="chat", prompt="x", suffix="y")
    with pytest.raises(openai.NotFoundError):
        c.completions.create(model="nope", prompt="x")
