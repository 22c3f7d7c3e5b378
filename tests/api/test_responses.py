"""``POST /v1/responses`` over real HTTP, with the official SDK, against every provider kind.

Answers and stream events are validated with the SDK's own pydantic models
(``Response``, ``ResponseStreamEvent``), not just read through its helpers.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import openai
import pytest
from aiohttp import web
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from bastion.core.types import ChatResponse, Choice, Message, Usage
from bastion.testing import FakeUpstream, GatewayServer, fake_settings

from .conftest import KindGateway

TOOLS: Any = [{"type": "function", "name": "get_weather", "description": "Weather now.",
               "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                              "required": ["query"]}}]
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def client(kg: KindGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=kg.gw.openai_base_url, api_key=kg.key, max_retries=0)


def raw_post(kg: KindGateway, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(kg.gw.openai_base_url + "/responses", json=body, timeout=10,
                      headers={"Authorization": f"Bearer {kg.key}"})


def sse_events(text: str) -> list[dict[str, Any]]:
    """Each SSE frame's data, checked to carry the same type as its ``event:`` line."""
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        data = msgspec.json.decode(lines["data"])
        assert lines["event"] == data["type"]
        out.append(data)
    return out


def test_text_answer_is_a_valid_response(kind_gateway: KindGateway) -> None:
    r = raw_post(kind_gateway, {"model": "chat", "input": "hello", "instructions": "Be kind.",
                                "max_output_tokens": 200, "temperature": 0.5,
                                "metadata": {"app": "t"}, "store": True})
    assert r.status_code == 200, r.text
    resp = Response.model_validate(r.json())
    assert resp.output_text == "You said: hello"
    assert resp.status == "completed"
    assert resp.model == "chat"
    assert resp.instructions == "Be kind."
    assert resp.metadata == {"app": "t"}
    assert resp.store is False  # the gateway keeps nothing, whatever the client asked
    assert resp.usage is not None
    assert resp.usage.input_tokens > 0
    assert resp.usage.output_tokens > 0
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert r.headers["x-request-id"]


def test_instructions_and_items_reach_the_provider(kind_gateway: KindGateway) -> None:
    kg = kind_gateway
    resp = client(kg).responses.create(model="chat", instructions="Be brief.", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "first"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "ok", "annotations": []}]},
        {"role": "user", "content": "second"}])
    assert resp.output_text == "You said: second"
    if kg.kind == "openai":
        assert kg.upstream is not None
        assert kg.upstream.received[-1].body["messages"] == [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"}, {"role": "user", "content": "second"}]


def test_function_tool_round_trip(kind_gateway: KindGateway) -> None:
    c = client(kind_gateway)
    first = c.responses.create(model="chat", input="weather in Paris?", tools=TOOLS)
    assert first.status == "completed"
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert msgspec.json.decode(call.arguments) == {"query": "weather in Paris?"}
    assert call.call_id
    second = c.responses.create(model="chat", tools=TOOLS, input=[
        {"role": "user", "content": "weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert second.output_text == "The tool said: sunny, 21 C"
    if kind_gateway.kind == "openai":
        assert kind_gateway.upstream is not None
        msgs = kind_gateway.upstream.received[-1].body["messages"]
        assert msgs[1] == {"role": "assistant", "tool_calls": [
            {"id": call.call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": call.arguments}}]}
        assert msgs[2] == {"role": "tool", "tool_call_id": call.call_id,
                           "content": "sunny, 21 C"}
        assert kind_gateway.upstream.received[-1].body["tools"][0]["function"]["name"] == (
            "get_weather")


def test_stream_event_sequence(kind_gateway: KindGateway) -> None:
    r = raw_post(kind_gateway, {"model": "chat", "input": "stream this please",
                                "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    for e in events:
        EVENTS.validate_python(e)
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "You said: stream this please"
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == deltas
    assert final.usage is not None
    assert final.usage.output_tokens > 0


def test_sdk_stream_helper_with_a_tool_call(kind_gateway: KindGateway) -> None:
    c = client(kind_gateway)
    with c.responses.stream(model="chat", input="weather?", tools=TOOLS) as s:
        kinds = [e.type for e in s]
        final = s.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = final.output[-1]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert msgspec.json.decode(call.arguments) == {"query": "weather?"}
    with c.responses.stream(model="chat", input="hi there") as s:
        text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
    assert text == "You said: hi there"


def test_json_schema_format(kind_gateway: KindGateway) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    # The fakes echo the input; the gateway's output check takes the JSON out of the echo.
    resp = client(kind_gateway).responses.create(
        model="chat", input='{"a": "json please"}',
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema,
                         "strict": True}})
    assert resp.text.format.type == "json_schema"
    assert resp.output_text == '{"a": "json please"}'
    if kind_gateway.kind == "openai":
        assert kind_gateway.upstream is not None
        assert kind_gateway.upstream.received[-1].body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    if kind_gateway.kind == "anthropic":  # no JSON mode there: the schema becomes a note
        assert kind_gateway.upstream is not None
        assert "JSON Schema" in str(kind_gateway.upstream.received[-1].body["system"])


def test_refusals_say_what_to_do(gateway: GatewayServer) -> None:
    key = gateway.create_key()
    c = openai.OpenAI(base_url=gateway.openai_base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="chat", input="hi", previous_response_id="resp_123")
    assert e.value.code == "invalid_request"
    assert "send the whole conversation in `input`" in str(e.value).lower()
    with pytest.raises(openai.BadRequestError, match="function tool"):
        c.responses.create(model="chat", input="hi", tools=[{"type": "web_search"}])
    with pytest.raises(openai.BadRequestError, match="item_reference"):
        c.responses.create(model="chat", input=[{"type": "item_reference", "id": "msg_1"}])
    with pytest.raises(openai.BadRequestError, match=r"input\[0\]\.call_id"):
        c.responses.create(model="chat", input=[{"type": "function_call_output",
                                                 "output": "x"}])
    with pytest.raises(openai.BadRequestError, match="unknown field"):
        c.responses.create(model="chat", input="hi", extra_body={"bogus": 1})
    with pytest.raises(openai.NotFoundError, match="keeps no responses"):
        c.responses.retrieve("resp_123")
    with pytest.raises(openai.NotFoundError) as nf:
        c.responses.create(model="no-such-model", input="hi")
    assert nf.value.code == "model_not_found"


def test_stream_broken_midway_ends_with_response_failed() -> None:
    settings = fake_settings(chat={"targets": ["fake/m"]})
    settings["providers"]["fake"]["fake"] = {"chunk_chars": 2, "faults": [{"kind": "cut_stream"}]}
    with GatewayServer(settings) as gw:
        r = httpx.post(gw.openai_base_url + "/responses", timeout=10,
                       headers={"Authorization": f"Bearer {gw.create_key()}"},
                       json={"model": "chat", "input": "a long enough answer", "stream": True})
    events = sse_events(r.text)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2]["code"] == "upstream_unavailable"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"
    for e in events:
        EVENTS.validate_python(e)


async def _reasoning_chat(up: FakeUpstream, request: web.Request, body: Any,
                          b: Any) -> web.StreamResponse:
    resp = ChatResponse(id="chatcmpl-r", model=body["model"], created=1, choices=[Choice(
        message=Message(role="assistant", content="42", reasoning_content="Thinking it over."),
        finish_reason="length")], usage=Usage(
            prompt_tokens=5, completion_tokens=7, total_tokens=12,
            prompt_tokens_details={"cached_tokens": 2},
            completion_tokens_details={"reasoning_tokens": 3}))
    return web.Response(body=msgspec.json.encode(resp), content_type="application/json")


def test_reasoning_in_and_out_and_incomplete_status() -> None:
    with FakeUpstream(routes={"/v1/chat/completions": _reasoning_chat}) as up:
        settings = {"providers": {"oa": {"type": "openai", "base_url": up.base_url + "/v1"}},
                    "models": {"chat": {"targets": ["oa/o-model"]}}}
        with GatewayServer(settings) as gw:
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                              max_retries=0)
            resp = c.responses.create(model="chat", reasoning={"effort": "low"}, input=[
                {"role": "user", "content": "q1"},
                {"type": "reasoning", "id": "rs_1",
                 "summary": [{"type": "summary_text", "text": "Earlier thought."}]},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2"}])
        sent = up.received[-1].body
    assert sent["reasoning_effort"] == "low"
    assert sent["messages"][1] == {"role": "assistant", "content": "a1",
                                   "reasoning_content": "Earlier thought."}
    assert resp.output[0].type == "reasoning"
    assert resp.output[0].summary[0].text == "Thinking it over."
    assert resp.output_text == "42"
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage is not None
    assert resp.usage.input_tokens_details.cached_tokens == 2
    assert resp.usage.output_tokens_details.reasoning_tokens == 3
