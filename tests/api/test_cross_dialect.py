"""Each dialect's client against the other dialect's provider, over real HTTP.

Anthropic SDK → gateway → OpenAI-speaking FakeUpstream, and OpenAI SDK →
gateway → Anthropic-speaking FakeUpstream: tool calls, stop reasons, usage and
streams must come through faithfully, and upstream failures as the right errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import msgspec
import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

TOOLS: Any = [{"name": "lookup", "description": "Look up.", "input_schema": {
    "type": "object", "properties": {"query": {"type": "string"}}}}]
TIMEOUTS = {"connect": 1000, "first_byte": 2000, "total": 5000}


@pytest.fixture
def openai_up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as u:
        yield u


@pytest.fixture
def ac(openai_up: FakeUpstream) -> Iterator[anthropic.Anthropic]:
    """An Anthropic SDK client of a gateway whose provider speaks OpenAI."""
    settings = {"providers": {"oa": {"type": "openai", "base_url": openai_up.base_url + "/v1",
                                     "api_key": "env:OPENAI_API_KEY"}},
                "models": {"chat": {"targets": ["oa/gpt-test"], "timeout_ms": TIMEOUTS}},
                "guards": {"injection": {"spotlight": "off"}}}  # tool results as sent
    with GatewayServer(settings, env={"OPENAI_API_KEY": "sk-openai-provider-key"}) as gw:
        yield anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(), max_retries=0)


@pytest.fixture
def anth_up() -> Iterator[FakeUpstream]:
    with FakeUpstream(routes=ANTHROPIC_ROUTES) as u:
        yield u


@pytest.fixture
def oc(anth_up: FakeUpstream) -> Iterator[openai.OpenAI]:
    """An OpenAI SDK client of a gateway whose provider speaks Anthropic."""
    settings = {"providers": {"an": {"type": "anthropic", "base_url": anth_up.base_url,
                                     "api_key": "env:ANTHROPIC_API_KEY"}},
                "models": {"chat": {"targets": ["an/claude-test"], "timeout_ms": TIMEOUTS}},
                "guards": {"injection": {"spotlight": "off"}}}  # tool results as sent
    with GatewayServer(settings, env={"ANTHROPIC_API_KEY": "sk-ant-provider-key"}) as gw:
        yield openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)


# ---- Anthropic client -> OpenAI provider ----------------------------------------------------


def test_anthropic_client_openai_provider_request(ac: anthropic.Anthropic,
                                                  openai_up: FakeUpstream) -> None:
    r = ac.messages.create(model="chat", max_tokens=64, system="Be brief.",
                           stop_sequences=["END"], metadata={"user_id": "u-7"},
                           extra_body={"top_k": 3},
                           thinking={"type": "enabled", "budget_tokens": 1024},
                           messages=[{"role": "user", "content": "hello"}])
    assert r.content[0].text == "You said: hello"  # type: ignore[union-attr]
    assert r.stop_reason == "end_turn"
    assert r.model == "chat"
    body = openai_up.received[-1].body
    assert openai_up.received[-1].headers["Authorization"] == "Bearer sk-openai-provider-key"
    assert body == {"model": "gpt-test", "max_completion_tokens": 64, "stop": ["END"],
                    "user": "u-7", "messages": [{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": "hello"}]}


def test_anthropic_client_openai_provider_tools(ac: anthropic.Anthropic,
                                                openai_up: FakeUpstream) -> None:
    first = ac.messages.create(model="chat", max_tokens=64, tools=TOOLS,
                               tool_choice={"type": "any", "disable_parallel_tool_use": True},
                               messages=[{"role": "user", "content": "weather?"}])
    sent = openai_up.received[-1].body
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "lookup", "description": "Look up.", "parameters": TOOLS[0]["input_schema"]}}]
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False
    assert first.stop_reason == "tool_use"
    use = first.content[0]
    assert use.type == "tool_use"
    assert use.input == {"query": "weather?"}
    assert first.usage.input_tokens > 0
    assert first.usage.output_tokens > 0
    second = ac.messages.create(model="chat", max_tokens=64, tools=TOOLS, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": use.id, "name": "lookup",
                                           "input": use.input}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id,
             "content": [{"type": "text", "text": "sunny"}]},
            {"type": "text", "text": "and tomorrow?"}]}])
    assert second.stop_reason == "tool_use"  # the fake calls a tool again: a user turn is last
    assert second.content[0].input == {"query": "and tomorrow?"}  # type: ignore[union-attr]
    msgs = openai_up.received[-1].body["messages"]
    assert msgs[1] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": use.id, "type": "function",
         "function": {"name": "lookup", "arguments": '{"query":"weather?"}'}}]}
    assert msgs[2] == {"role": "tool", "tool_call_id": use.id, "content": "sunny"}
    assert msgs[3] == {"role": "user", "content": "and tomorrow?"}


def test_anthropic_client_openai_provider_stream(ac: anthropic.Anthropic) -> None:
    with ac.messages.stream(model="chat", max_tokens=64,
                            messages=[{"role": "user", "content": "stream it"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "You said: stream it"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens > 0
    with ac.messages.stream(model="chat", max_tokens=64, tools=TOOLS,
                            messages=[{"role": "user", "content": "call it"}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"query": "call it"}


def canned(finish: str, **message: Any) -> Behavior:
    """An OpenAI answer as the upstream's body, for finish reasons the fake never gives."""
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", **message}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                      "prompt_tokens_details": {"cached_tokens": 4}}}
    return Behavior(kind="status", status=200, body=msgspec.json.encode(body))


@pytest.mark.parametrize(("finish", "reason"), [
    ("length", "max_tokens"), ("content_filter", "refusal"), ("stop", "end_turn")])
def test_anthropic_client_stop_reasons_and_usage(ac: anthropic.Anthropic,
                                                 openai_up: FakeUpstream, finish: str,
                                                 reason: str) -> None:
    openai_up.push(canned(finish, content="partial"))
    r = ac.messages.create(model="chat", max_tokens=2,
                           messages=[{"role": "user", "content": "a long enough message"}])
    assert r.stop_reason == reason
    assert r.content[0].text == "partial"  # type: ignore[union-attr]
    assert (r.usage.input_tokens, r.usage.output_tokens) == (7, 7)
    assert r.usage.cache_read_input_tokens == 4


def test_anthropic_client_broken_tool_arguments(ac: anthropic.Anthropic,
                                                openai_up: FakeUpstream) -> None:
    openai_up.push(canned("tool_calls", content=None, tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{oops"}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}]))
    r = ac.messages.create(model="chat", max_tokens=20, tools=TOOLS,
                           messages=[{"role": "user", "content": "x"}])
    assert [(b.type, b.input) for b in r.content] == [  # type: ignore[union-attr]
        ("tool_use", {"_raw_arguments": "{oops"}), ("tool_use", {})]


@pytest.mark.parametrize(("behavior", "error"), [
    (Behavior(kind="status", status=429, retry_after="3"), anthropic.InternalServerError),
    (Behavior(kind="status", status=500), anthropic.InternalServerError),
    (Behavior(kind="status", status=400), anthropic.BadRequestError),
])
def test_anthropic_client_upstream_failures(ac: anthropic.Anthropic, openai_up: FakeUpstream,
                                            behavior: Behavior, error: type) -> None:
    openai_up.default = behavior
    with pytest.raises(error) as e:
        ac.messages.create(model="chat", max_tokens=8,
                           messages=[{"role": "user", "content": "x"}])
    err = e.value.body["error"]
    if behavior.status >= 429:
        assert e.value.status_code == 503
        assert err["type"] == "overloaded_error"
        assert err["code"] == "upstream_unavailable"
    else:
        assert err["type"] == "invalid_request_error"
        assert err["code"] == "upstream_rejected"
    if behavior.retry_after:
        assert e.value.response.headers["retry-after"] == "3"


# ---- OpenAI client -> Anthropic provider ----------------------------------------------------


def test_openai_client_anthropic_provider(oc: openai.OpenAI, anth_up: FakeUpstream) -> None:
    r = oc.chat.completions.create(model="chat", max_tokens=100,
                                   messages=[{"role": "system", "content": "S"},
                                             {"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "You said: hi"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    got = anth_up.received[-1]
    assert got.headers["x-api-key"] == "sk-ant-provider-key"
    assert got.body["system"] == "S"
    assert got.body["max_tokens"] == 100


def test_openai_client_anthropic_provider_tools(oc: openai.OpenAI) -> None:
    tool: Any = {"type": "function", "function": {"name": "lookup",
                                                  "parameters": TOOLS[0]["input_schema"]}}
    r = oc.chat.completions.create(model="chat", tools=[tool],
                                   messages=[{"role": "user", "content": "where?"}])
    assert r.choices[0].finish_reason == "tool_calls"
    call = (r.choices[0].message.tool_calls or [])[0]
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert msgspec.json.decode(call.function.arguments) == {  # type: ignore[union-attr]
        "query": "where?"}
    chunks = list(oc.chat.completions.create(
        model="chat", tools=[tool], stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "where?"}]))
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices
                   for tc in c.choices[0].delta.tool_calls or [] if tc.function)
    assert msgspec.json.decode(args) == {"query": "where?"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize(("behavior", "error"), [
    (Behavior(kind="status", status=429), openai.InternalServerError),
    (Behavior(kind="status", status=500), openai.InternalServerError),
])
def test_openai_client_anthropic_provider_failures(oc: openai.OpenAI, anth_up: FakeUpstream,
                                                   behavior: Behavior, error: type) -> None:
    anth_up.default = behavior
    with pytest.raises(error) as e:
        oc.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert e.value.code == "upstream_unavailable"
