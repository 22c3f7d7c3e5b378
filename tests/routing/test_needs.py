"""Only targets that can serve a request are candidates: capabilities over real HTTP,
and what a request needs, read from its shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from bastion.core.types import ChatRequest, Message
from bastion.routing.needs import needs
from bastion.testing import FakeUpstream, GatewayServer

from .conftest import SAY, request_lines, routing_settings

TOOLS: Any = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}]
IMAGE: Any = [{"role": "user", "content": [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]


def test_requests_go_only_to_targets_that_can_serve_them(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"small": upstream_factory(), "big": upstream_factory()}
    cfg = routing_settings(ups, {"targets": [
        {"target": "small/small-model", "capabilities": ["logprobs"]}, "big/big-model"]})
    cfg["models"]["text"] = {"targets": [
        {"target": "small/small-model", "capabilities": []},
        {"target": "big/big-model", "capabilities": ["tools"]}]}
    gw = gateway_factory(cfg)
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    assert c.chat.completions.create(model="chat", messages=SAY).model == "small-model"  # type: ignore[arg-type]
    assert c.chat.completions.create(
        model="chat", messages=SAY, logprobs=True,  # type: ignore[arg-type]
    ).model == "small-model"
    assert c.chat.completions.create(model="chat", messages=SAY, tools=TOOLS).model == "big-model"  # type: ignore[arg-type]
    assert c.chat.completions.create(model="chat", messages=IMAGE).model == "big-model"
    assert ups["small"].calls == 2
    line = request_lines(captured)[-1]
    assert line["decisions"]["needs"] == ["vision"]
    assert line["decisions"]["routing"]["first"] == "big/big-model"
    with pytest.raises(openai.UnprocessableEntityError) as e:
        c.chat.completions.create(model="text", messages=IMAGE)
    assert e.value.code == "no_capable_model"
    assert "images" in e.value.message
    assert ups["big"].calls == 2  # refused before any provider saw it


def test_what_a_request_needs() -> None:
    def of(**kw: Any) -> set[str]:
        kw.setdefault("messages", [Message(role="user", content="hi")])
        return needs(ChatRequest(model="m", **kw))

    assert of() == set()
    assert of(tools=TOOLS) == {"tools"}
    assert of(messages=[Message(role="tool", content="42", tool_call_id="c1")]) == {"tools"}
    assert of(messages=[Message(role="user", content=IMAGE[0]["content"])]) == {"vision"}
    assert of(messages=[Message(role="user", content=[
        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}])]) == {"audio"}
    assert of(modalities=["text", "audio"]) == {"audio"}
    assert of(response_format={"type": "json_schema", "json_schema": {}}) == {"json"}
    assert of(response_format={"type": "text"}) == set()
    assert of(logprobs=True) == {"logprobs"}
