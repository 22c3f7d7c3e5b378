"""The Anthropic adapter against a real HTTP fake speaking the Messages API.

Clients are the official SDKs talking to a real gateway; the upstream is
``FakeUpstream(routes=ANTHROPIC_ROUTES)``, which refuses bodies the real API
would refuse, so a wrong translation fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest

from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderServerError,
)
from bastion.providers.anthropic_wire import StreamReader, stream_error
from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES, error_body

PROVIDER_KEY = "sk-ant-api03-provider-secret-0123456789"
TOOL: Any = {"type": "function", "function": {"name": "lookup", "description": "Look up.",
                                              "parameters": {"type": "object", "properties": {
                                                  "query": {"type": "string"}}}}}


def anthropic_settings(base_url: str, **provider: Any) -> dict[str, Any]:
    return {
        "providers": {"anth": {"type": "anthropic", "base_url": base_url,
                               "api_key": "env:ANTHROPIC_API_KEY", **provider}},
        "models": {
            "chat": {"targets": ["anth/claude-test-1"],
                     "timeout_ms": {"connect": 1000, "first_byte": 2000, "total": 5000}},
            "embeddings": {"targets": ["anth/claude-test-1"], "kind": "embeddings"},
        },
        "guards": {"injection": {"spotlight": "off"}},  # tool results as sent
    }


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream(routes=ANTHROPIC_ROUTES) as u:
        yield u


@pytest.fixture
def gw(up: FakeUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(anthropic_settings(up.base_url),
                       env={"ANTHROPIC_API_KEY": PROVIDER_KEY}) as g:
        yield g


@pytest.fixture
def key(gw: GatewayServer) -> str:
    return gw.create_key()


@pytest.fixture
def oc(gw: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)


def last_body(up: FakeUpstream) -> Any:
    return up.received[-1].body


def test_headers_and_body(up: FakeUpstream, oc: openai.OpenAI, key: str) -> None:
    r = oc.chat.completions.create(model="chat", user="u-42", stop="END", temperature=1.7,
                                   messages=[{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "You said: hello"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0
    got = up.received[-1]
    assert got.path == "/v1/messages"
    assert got.headers["x-api-key"] == PROVIDER_KEY
    assert got.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in got.headers
    assert key not in repr(got.headers)
    assert key not in msgspec.json.encode(got.body).decode()
    assert got.body == {"model": "claude-test-1", "max_tokens": 4096, "system": "Be brief.",
                        "messages": [{"role": "user", "content": [
                            {"type": "text", "text": "hello"}]}],
                        "stop_sequences": ["END"], "temperature": 1.0,
                        "metadata": {"user_id": "u-42"}}


def test_api_version_and_extra_headers(up: FakeUpstream) -> None:
    settings = anthropic_settings(up.base_url + "/v1", api_version="2024-01-01",
                                  headers={"anthropic-beta": "ours-1"})
    with GatewayServer(settings, env={"ANTHROPIC_API_KEY": PROVIDER_KEY}) as g:
        c = anthropic.Anthropic(base_url=g.base_url, api_key=g.create_key(), max_retries=0)
        c.messages.create(model="chat", max_tokens=20, messages=[{"role": "user", "content": "x"}],
                          extra_headers={"anthropic-beta": "client-2"})
    got = up.received[-1]
    assert got.path == "/v1/messages"
    assert got.headers["anthropic-version"] == "2024-01-01"
    assert got.headers["anthropic-beta"] == "ours-1,client-2"


def test_stream_text_and_usage(oc: openai.OpenAI, up: FakeUpstream) -> None:
    chunks = list(oc.chat.completions.create(
        model="chat", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "stream this please"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: stream this please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert last_body(up)["stream"] is True


def test_tool_call_round_trip(oc: openai.OpenAI, up: FakeUpstream) -> None:
    tools = [TOOL, {"type": "function", "function": {"name": "second"}}]
    r = oc.chat.completions.create(model="chat", tools=tools, tool_choice="required",
                                   parallel_tool_calls=False,
                                   messages=[{"role": "user", "content": "find it"}])
    assert last_body(up)["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert last_body(up)["tools"][0] == {"name": "lookup", "description": "Look up.",
                                         "input_schema": TOOL["function"]["parameters"]}
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.content == "Let me check."
    calls = msg.tool_calls or []
    assert [c.function.name for c in calls] == ["lookup", "second"]  # type: ignore[union-attr]
    assert msgspec.json.decode(calls[0].function.arguments) == {  # type: ignore[union-attr]
        "query": "find it"}
    follow = oc.chat.completions.create(model="chat", tools=tools, messages=[
        {"role": "user", "content": "find it"},
        msg.model_dump(exclude_none=True),  # type: ignore[list-item]
        {"role": "tool", "tool_call_id": calls[0].id, "content": "42"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "7"}]},
    ])
    assert follow.choices[0].message.content == "The tool said: 42\n7"  # both results, answered
    turns = last_body(up)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["type"] for b in turns[1]["content"]] == ["text", "tool_use", "tool_use"]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": calls[0].id,
         "content": [{"type": "text", "text": "42"}]},
        {"type": "tool_result", "tool_use_id": calls[1].id,
         "content": [{"type": "text", "text": "7"}]}]


def test_tool_calls_stream(oc: openai.OpenAI) -> None:
    chunks = list(oc.chat.completions.create(
        model="chat", stream=True, tools=[TOOL, {"type": "function", "function": {"name": "b"}}],
        messages=[{"role": "user", "content": "go"}]))
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
            slot["id"] += tc.id or ""
            slot["name"] += (tc.function.name or "") if tc.function else ""
            slot["args"] += (tc.function.arguments or "") if tc.function else ""
    assert [calls[i]["name"] for i in sorted(calls)] == ["lookup", "b"]
    assert all(msgspec.json.decode(c["args"]) == {"query": "go"} for c in calls.values())
    assert all(c["id"].startswith("toolu_") for c in calls.values())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_user_turn_merge_orders_tool_results_first(oc: openai.OpenAI, up: FakeUpstream) -> None:
    oc.chat.completions.create(model="chat", messages=[
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "user", "content": "also this"},
        {"role": "tool", "tool_call_id": "call_1", "content": "r"},
        {"role": "developer", "content": "Late instruction."},
    ])
    body = last_body(up)
    assert body["system"] == "Late instruction."
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]


def test_images_and_response_format(oc: openai.OpenAI, up: FakeUpstream) -> None:
    seen = len(up.received)
    # The fake's echo is not JSON: the output check repairs once, then refuses (502).
    with pytest.raises(openai.InternalServerError):
        oc.chat.completions.create(
            model="chat", response_format={"type": "json_schema", "json_schema": {
                "name": "s", "schema": {"type": "object"}}},
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}])
    body = up.received[seen].body
    blocks = body["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64",
                                                     "media_type": "image/jpeg", "data": "QUJD"}}
    assert blocks[2] == {"type": "image", "source": {"type": "url",
                                                     "url": "https://example.com/a.png"}}
    assert '{"type":"object"}' in body["system"]


def test_length_and_stop_sequence(gw: GatewayServer, key: str, oc: openai.OpenAI) -> None:
    r = oc.chat.completions.create(model="chat", max_tokens=2,
                                   messages=[{"role": "user", "content": "a long message"}])
    assert r.choices[0].finish_reason == "length"
    ac = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
    m = ac.messages.create(model="chat", max_tokens=50, stop_sequences=["STOP"],
                           messages=[{"role": "user", "content": "one STOP two"}])
    assert m.stop_reason == "stop_sequence"
    assert m.stop_sequence == "STOP"
    assert m.content[0].text == "You said: one "  # type: ignore[union-attr]
    with ac.messages.stream(model="chat", max_tokens=50, stop_sequences=["STOP"],
                            messages=[{"role": "user", "content": "one STOP two"}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "stop_sequence"
    assert final.stop_sequence == "STOP"
    assert final.usage.input_tokens > 0


def test_anthropic_only_params_pass_through(gw: GatewayServer, key: str,
                                            up: FakeUpstream) -> None:
    ac = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    ac.messages.create(model="chat", max_tokens=2048, extra_body={"top_k": 5, "temperature": 1},
                       thinking={"type": "enabled", "budget_tokens": 1024},
                       output_config={"effort": "low",
                                      "format": {"type": "json_schema", "schema": schema}},
                       cache_control={"type": "ephemeral"}, service_tier="auto",
                       metadata={"user_id": "abc"}, tool_choice={"type": "tool", "name": "t"},
                       tools=[{"name": "t", "input_schema": {"type": "object"}}],
                       messages=[{"role": "user", "content": "x"}])
    body = last_body(up)
    assert body["top_k"] == 5
    assert body["max_tokens"] == 2048
    assert body["temperature"] == 1
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["output_config"] == {"effort": "low",
                                     "format": {"type": "json_schema", "schema": schema}}
    assert body["cache_control"] == {"type": "ephemeral"}
    assert body["service_tier"] == "auto"
    assert "system" not in body  # the schema went as output_config, not as a note
    assert body["metadata"] == {"user_id": "abc"}
    assert body["tool_choice"] == {"type": "tool", "name": "t"}
    assert body["tools"] == [{"name": "t", "input_schema": {"type": "object"}}]


def test_thinking_and_cache_usage_round_trip(gw: GatewayServer, key: str, up: FakeUpstream,
                                             oc: openai.OpenAI) -> None:
    canned = {"id": "msg_canned", "type": "message", "role": "assistant", "model": "claude-x",
              "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                          {"type": "text", "text": "Sure."},
                          {"type": "tool_use", "id": "toolu_1", "name": "t",
                           "input": {"a": [1, 2]}},
                          {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                           "input": {}}],
              "stop_reason": "tool_use", "stop_sequence": None,
              "usage": {"input_tokens": 5, "output_tokens": 9, "cache_read_input_tokens": 100,
                        "cache_creation_input_tokens": 20}}
    up.push(Behavior(kind="status", status=200, body=msgspec.json.encode(canned)),
            Behavior(kind="status", status=200, body=msgspec.json.encode(canned)))
    ac = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
    m = ac.messages.create(model="chat", max_tokens=50,
                           messages=[{"role": "user", "content": "x"}])
    assert [b.type for b in m.content] == ["thinking", "text", "tool_use"]
    assert m.content[0].thinking == "Hmm."  # type: ignore[union-attr]
    assert m.content[2].input == {"a": [1, 2]}  # type: ignore[union-attr]
    assert m.stop_reason == "tool_use"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (5, 9)
    assert m.usage.cache_read_input_tokens == 100
    assert m.usage.cache_creation_input_tokens == 20
    r = oc.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert r.usage is not None
    assert r.usage.prompt_tokens == 125
    assert r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 100
    assert r.choices[0].message.content == "Sure."
    assert r.choices[0].finish_reason == "tool_calls"


def test_refusals_before_the_upstream(gw: GatewayServer, oc: openai.OpenAI,
                                      up: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        oc.chat.completions.create(model="chat", n=2, messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "upstream_rejected"
    assert "`n`" in e.value.message
    with pytest.raises(openai.BadRequestError) as emb:
        oc.embeddings.create(model="embeddings", input="x")
    assert "embeddings" in emb.value.message
    assert up.calls == 0


@pytest.mark.parametrize(("behavior", "status", "code"), [
    (Behavior(kind="status", status=429, retry_after="7"), 503, "upstream_unavailable"),
    (Behavior(kind="status", status=529, body=error_body("overloaded_error", "Overloaded")),
     503, "upstream_unavailable"),
    (Behavior(kind="status", status=500), 503, "upstream_unavailable"),
    (Behavior(kind="malformed"), 503, "upstream_unavailable"),
    (Behavior(kind="status", status=400, body=error_body("invalid_request_error",
                                                         "prompt is too long")),
     400, "upstream_rejected"),
])
def test_upstream_failures(gw: GatewayServer, key: str, up: FakeUpstream, behavior: Behavior,
                           status: int, code: str) -> None:
    up.default = behavior
    r = httpx.post(gw.openai_base_url + "/chat/completions",
                   headers={"Authorization": f"Bearer {key}"},
                   json={"model": "chat", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert up.calls >= 1
    if behavior.retry_after:
        assert r.headers["Retry-After"] == "7"
    if code == "upstream_rejected":
        assert "prompt is too long" in r.json()["error"]["message"]


@pytest.mark.parametrize("behavior", [
    Behavior(kind="cut_stream"),
    Behavior(kind="cut_stream", body=error_body("overloaded_error", "Overloaded")),
    Behavior(kind="malformed"),
])
def test_broken_streams_end_with_an_error(oc: openai.OpenAI, up: FakeUpstream,
                                          behavior: Behavior) -> None:
    up.default = behavior
    with pytest.raises(openai.APIError) as e:
        for _ in oc.chat.completions.create(
                model="chat", stream=True,
                messages=[{"role": "user", "content": "a long enough message to cut"}]):
            pass
    assert "upstream_unavailable" in str(e.value.body)


@pytest.mark.parametrize(("kind", "cls", "status"), [
    ("overloaded_error", ProviderServerError, 529),
    ("api_error", ProviderServerError, 500),
    ("rate_limit_error", ProviderRateLimited, 429),
    ("authentication_error", ProviderAuthError, 401),
    ("invalid_request_error", ProviderBadRequest, 400),
    ("something_new", ProviderServerError, 500),
])
def test_stream_error_events_by_type(kind: str, cls: type, status: int) -> None:
    err = stream_error(error_body(kind, "m"))
    assert type(err) is cls
    assert err.provider_status == status
    with pytest.raises(cls):
        StreamReader(None).feed("error", error_body(kind, "m"))


def test_unreadable_event_is_a_bad_response() -> None:
    reader = StreamReader(None)
    assert reader.feed("ping", b'{"type": "ping"}') is None
    with pytest.raises(ProviderBadResponse):
        reader.feed("message_start", b'{"type": "message_start", "message": 3}')
