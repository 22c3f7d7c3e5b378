"""Exact wire shapes from every adapter, checked with the official SDKs' own models.

Each answer (whole and streamed) from every provider kind is validated with the
``openai`` and ``anthropic`` SDKs' pydantic models, and the details strict
clients rely on are checked as JSON: tool calls typed ``"function"``, and
``"content": null`` beside them, as OpenAI writes it.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from .conftest import KindGateway

TOOLS = [{"type": "function", "function": {
    "name": "lookup", "description": "Look up.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]
A_EVENTS: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)



def _post(kg: KindGateway, path: str, body: dict[str, Any]) -> httpx.Response:
    r = httpx.post(kg.gw.base_url + path, json=body, timeout=10,
                   headers={"Authorization": f"Bearer {kg.key}"})
    assert r.status_code == 200, r.text
    return r


def _data(text: str) -> list[Any]:
    return [msgspec.json.decode(line[6:]) for line in text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_chat_tool_call_shape(kind_gateway: KindGateway) -> None:
    body = _post(kind_gateway, "/v1/chat/completions", {
        "model": "chat", "tools": TOOLS,
        "messages": [{"role": "user", "content": "find it"}]}).json()
    ChatCompletion.model_validate(body)
    msg = body["choices"][0]["message"]
    assert "content" in msg
    assert msg["content"] is None
    call = msg["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "lookup"
    assert msgspec.json.decode(call["function"]["arguments"]) == {"query": "find it"}
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_chat_text_shape(kind_gateway: KindGateway) -> None:
    body = _post(kind_gateway, "/v1/chat/completions", {
        "model": "chat", "messages": [{"role": "user", "content": "hi"}]}).json()
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].message.content == "You said: hi"
    assert body["object"] == "chat.completion"


def test_chat_stream_shape(kind_gateway: KindGateway) -> None:
    r = _post(kind_gateway, "/v1/chat/completions", {
        "model": "chat", "stream": True, "stream_options": {"include_usage": True},
        "tools": TOOLS, "messages": [{"role": "user", "content": "find it"}]})
    chunks = [ChatCompletionChunk.model_validate(c) for c in _data(r.text)]
    starts = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or ()
              if tc.id]
    assert len(starts) == 1
    assert starts[0].type == "function"
    assert starts[0].function is not None
    assert starts[0].function.name == "lookup"
    assert chunks[-1].usage is not None


def test_anthropic_door_shapes(kind_gateway: KindGateway) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]
    base = {"model": "chat", "max_tokens": 50, "tools": tools,
            "messages": [{"role": "user", "content": "find it"}]}
    msg = AnthropicMessage.model_validate(_post(kind_gateway, "/v1/messages", base).json())
    assert msg.stop_reason == "tool_use"
    assert msg.content[-1].type == "tool_use"
    r = _post(kind_gateway, "/v1/messages", {**base, "stream": True})
    events = [A_EVENTS.validate_python(e) for e in _data(r.text)]
    assert events[0].type == "message_start"
    assert events[-1].type == "message_stop"
