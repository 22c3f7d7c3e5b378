"""The Gemini adapter, end to end: the openai SDK → a real gateway → a Gemini-speaking
FakeUpstream (which, like the real service, rejects bodies it would not accept)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bastion.providers.fake import fake_embedding
from bastion.providers.gemini_wire import clean_schema
from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream_gemini import GEMINI_ROUTES, gemini_error_body

GEMINI_KEY = "AIzaSyD-test-gemini-key-000000000000000"
MODEL = "gemini-2.5-flash"
FAST = {"connect": 1000, "first_byte": 2000, "total": 5000}
TOOL = {"type": "function", "function": {
    "name": "lookup", "description": "Find a record.",
    "parameters": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                   "type": "object", "additionalProperties": False,
                   "properties": {"query": {"type": "string"},
                                  "limit": {"type": ["integer", "null"]}},
                   "required": ["query"]}}}


@pytest.fixture(scope="module")
def upstream_gem() -> Iterator[FakeUpstream]:
    with FakeUpstream(routes=GEMINI_ROUTES) as up:
        yield up


@pytest.fixture(scope="module")
def gw(upstream_gem: FakeUpstream) -> Iterator[GatewayServer]:
    settings = {
        "providers": {"gem": {"type": "gemini", "base_url": upstream_gem.base_url,
                              "api_key": "env:GEMINI_KEY"}},
        "models": {"chat": {"targets": [f"gem/{MODEL}"], "timeout_ms": FAST},
                   "embeddings": {"targets": ["gem/text-embedding-004"], "kind": "embeddings"}},
        "guards": {"injection": {"spotlight": "off"}},  # tool results as sent
        # one attempt, no breaker: each test sees exactly what the adapter made of one answer
        "resilience": {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}},
    }
    with GatewayServer(settings, env={"GEMINI_KEY": GEMINI_KEY}) as server:
        yield server


@pytest.fixture
def up(upstream_gem: FakeUpstream) -> FakeUpstream:
    upstream_gem.received.clear()
    upstream_gem.script.clear()
    return upstream_gem


def assert_key_handling(up: FakeUpstream, vkey: str) -> None:
    assert up.received, "the upstream was not called"
    for r in up.received:
        assert r.headers.get("x-goog-api-key") == GEMINI_KEY
        assert GEMINI_KEY not in r.path
        assert "key=" not in r.path
        assert "Authorization" not in r.headers
        assert vkey not in json.dumps(r.headers) + json.dumps(r.body)


def test_chat_non_stream(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    r = client.chat.completions.create(
        model="chat", temperature=0.2, max_tokens=50, stop=["END"], seed=7,
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "You said: hello"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.total_tokens == (
        r.usage.prompt_tokens + r.usage.completion_tokens) > 0
    sent = up.received[-1]
    assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "hello"}]}]
    assert sent.body["generationConfig"] == {"temperature": 0.2, "seed": 7,
                                             "maxOutputTokens": 50, "stopSequences": ["END"]}
    assert_key_handling(up, vkey)


def test_chat_stream(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    chunks = list(client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "stream me please"}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream me please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert finishes.count("stop") == 1
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert up.received[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert_key_handling(up, vkey)


def test_tool_call_and_result_round_trip(client: openai.OpenAI, up: FakeUpstream) -> None:
    r = client.chat.completions.create(
        model="chat", tools=[TOOL], tool_choice="required",  # type: ignore[list-item]
        messages=[{"role": "user", "content": "find order 42"}])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id.startswith("call_")
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"query": "find order 42"}  # type: ignore[union-attr]
    sent = up.received[-1].body
    decl = sent["tools"][0]["functionDeclarations"][0]
    assert decl["parameters"] == {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string"}, "limit": {"type": "integer", "nullable": True}}}
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}

    client.chat.completions.create(model="chat", tools=[TOOL], messages=[  # type: ignore[list-item]
        {"role": "user", "content": "find order 42"},
        choice.message.model_dump(exclude_none=True),  # type: ignore[misc]
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
        {"role": "tool", "tool_call_id": "unknown", "content": "plain text"}])
    contents = up.received[-1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"functionCall": {"name": "lookup",
                                                      "args": {"query": "find order 42"}}}]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"status": "shipped"}}},
        {"functionResponse": {"name": "tool", "response": {"result": "plain text"}}}]


def test_tool_call_stream_and_named_choice(client: openai.OpenAI, up: FakeUpstream) -> None:
    chunks = list(client.chat.completions.create(
        model="chat", tools=[TOOL], stream=True,  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "lookup"}},
        messages=[{"role": "user", "content": "where is it"}]))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    assert calls[0].index == 0
    assert calls[0].id.startswith("call_")
    assert calls[0].function.name == "lookup"  # type: ignore[union-attr]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert up.received[-1].body["toolConfig"] == {"functionCallingConfig": {
        "mode": "ANY", "allowedFunctionNames": ["lookup"]}}


def test_image_and_json_mode_mapping(client: openai.OpenAI, up: FakeUpstream) -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    seen = len(up.received)
    # The fake's echo is not JSON: the output check repairs once, then refuses (502).
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="chat", response_format={"type": "json_object"}, n=2,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    sent = up.received[seen].body
    assert sent["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png",
                                                              "data": png}}
    assert sent["generationConfig"] == {"candidateCount": 2,
                                        "responseMimeType": "application/json"}


def test_embeddings(client: openai.OpenAI, up: FakeUpstream, vkey: str) -> None:
    e = client.embeddings.create(model="embeddings", input=["alpha", "beta"], dimensions=16)
    assert [d.index for d in e.data] == [0, 1]
    # the SDK asks for base64 and decodes it: float32 precision
    assert e.data[1].embedding == pytest.approx(fake_embedding("beta", 16), abs=1e-6)
    assert e.usage.prompt_tokens > 0
    sent = up.received[-1]
    assert sent.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent.body["requests"][0] == {"model": "models/text-embedding-004",
                                        "content": {"parts": [{"text": "alpha"}]},
                                        "outputDimensionality": 16}
    assert_key_handling(up, vkey)
    plain = client.embeddings.create(model="embeddings", input="x", encoding_format="float")
    assert plain.data[0].embedding == pytest.approx(fake_embedding("x", 64))
    raw = client.embeddings.with_raw_response.create(model="embeddings", input="x")
    b64 = json.loads(raw.text)["data"][0]["embedding"]
    assert list(struct.unpack("<64f", base64.b64decode(b64))) == pytest.approx(
        fake_embedding("x", 64), abs=1e-6)


def _status(status: int, message: str, reason: str | None = None, **kw: Any) -> Behavior:
    return Behavior(kind="status", status=status, body=gemini_error_body(status, message, reason),
                    **kw)


def test_rate_limit_and_server_errors(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(_status(429, "Resource has been exhausted (e.g. check quota).", retry_after="7"))
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert e.value.code == "upstream_unavailable"
    assert e.value.response.headers["retry-after"] == "7"
    assert "exhausted" not in e.value.response.text
    up.push(_status(500, "An internal error has occurred."))
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert "internal error has occurred" not in e.value.response.text


def test_vendor_400_is_upstream_rejected(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(_status(400, "The input token count exceeds the maximum number of tokens allowed "
                    f"(request key {GEMINI_KEY})."))
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "upstream_rejected"
    assert "input token count exceeds" in e.value.response.text
    assert GEMINI_KEY not in e.value.response.text
    assert up.calls == 1  # not retried: every target would refuse it alike


def test_bad_key_is_our_problem_not_the_client(client: openai.OpenAI, up: FakeUpstream) -> None:
    up.push(_status(400, "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"))
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert "API key" not in e.value.response.text


def test_malformed_and_cut_streams(client: openai.OpenAI, up: FakeUpstream) -> None:
    msgs: Any = [{"role": "user", "content": "a longer sentence to stream in pieces"}]
    up.push(Behavior(kind="malformed"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="chat", messages=msgs)
    up.push(Behavior(kind="cut_stream"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="chat", messages=msgs, stream=True))
    up.push(Behavior(kind="malformed"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="chat", messages=msgs, stream=True))


def test_schema_cleaning_inlines_refs() -> None:
    schema = {"type": "object", "$defs": {"Item": {"type": "object", "title": "Item",
                                                   "additionalProperties": False,
                                                   "properties": {"sku": {"const": "A"}}}},
              "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                             "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    assert clean_schema(schema) == {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "object", "title": "Item", "properties": {
            "sku": {"enum": ["A"], "type": "string"}}}},
        "note": {"nullable": True, "type": "string"}}}
