"""Pseudonymisation end to end, over real HTTP with the official SDKs: the provider (a
recording fake) never receives an original value, while the client's answer holds the
originals — whole answers and streams, both dialects, tool-call arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

from .conftest import PERSONAL, VALUES, leaked

SHORT = "mail jane.roe@example-mail.com, call +44 20 7946 0958, SSN 536-22-1234"
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look up.",
                                            "parameters": {"type": "object", "properties": {
                                                "query": {"type": "string"}}}}}]


@pytest.fixture
def ups() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream() as oa, FakeUpstream(routes=ANTHROPIC_ROUTES) as an:
        yield oa, an


@pytest.fixture
def gw(ups: tuple[FakeUpstream, FakeUpstream]) -> Iterator[GatewayServer]:
    oa, an = ups
    settings = {
        "providers": {
            "oa": {"type": "openai", "base_url": oa.base_url + "/v1", "api_key": "env:OA_KEY"},
            "an": {"type": "anthropic", "base_url": an.base_url, "api_key": "env:AN_KEY"}},
        "models": {"chat": {"targets": ["oa/gpt-test"]},
                   "claude": {"targets": ["an/claude-test"]}},
    }
    with GatewayServer(settings, env={"OA_KEY": "sk-oa-provider", "AN_KEY": "sk-an-provider"}
                       ) as g:
        yield g


def _all_originals(text: str) -> None:
    for v in VALUES:
        assert v in text, v


@pytest.mark.parametrize("alias", ["chat", "claude"])
def test_openai_client_whole_and_streamed(gw: GatewayServer, alias: str,
                                          ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    up = ups[0] if alias == "chat" else ups[1]
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    r = c.chat.completions.create(model=alias, messages=[{"role": "user", "content": PERSONAL}])
    assert r.choices[0].message.content == f"You said: {PERSONAL}"
    assert leaked(up.received[-1].body) == []
    stream = c.chat.completions.create(model=alias, stream=True,
                                       messages=[{"role": "user", "content": PERSONAL}])
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == f"You said: {PERSONAL}"
    assert leaked(up.received[-1].body) == []
    _all_originals(text)


@pytest.mark.parametrize("alias", ["chat", "claude"])
def test_anthropic_client_whole_and_streamed(gw: GatewayServer, alias: str,
                                             ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    up = ups[0] if alias == "chat" else ups[1]
    c = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(), max_retries=0)
    r = c.messages.create(model=alias, max_tokens=1024,
                          messages=[{"role": "user", "content": PERSONAL}])
    assert r.content[0].text == f"You said: {PERSONAL}"  # type: ignore[union-attr]
    assert leaked(up.received[-1].body) == []
    with c.messages.stream(model=alias, max_tokens=1024,
                           messages=[{"role": "user", "content": PERSONAL}]) as s:
        text = "".join(s.text_stream)
    assert text == f"You said: {PERSONAL}"
    assert leaked(up.received[-1].body) == []


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_arguments_carry_stand_ins_out_and_originals_back(
        gw: GatewayServer, ups: tuple[FakeUpstream, FakeUpstream], stream: bool) -> None:
    oa, _ = ups
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    history: list[Any] = [
        {"role": "user", "content": "Find my account."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {
                "name": "lookup", "arguments": json.dumps({"query": PERSONAL})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"Found: {PERSONAL}"},
        {"role": "user", "content": SHORT},
    ]
    if stream:
        calls: dict[int, str] = {}
        for ch in c.chat.completions.create(model="chat", messages=history, tools=TOOLS,  # type: ignore[arg-type]
                                            stream=True):
            for tc in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                calls[tc.index] = calls.get(tc.index, "") + (tc.function.arguments or "")  # type: ignore[union-attr]
        args = calls[0]
    else:
        r = c.chat.completions.create(model="chat", messages=history, tools=TOOLS)  # type: ignore[arg-type]
        args = r.choices[0].message.tool_calls[0].function.arguments  # type: ignore[index, union-attr]
    assert json.loads(args) == {"query": SHORT}
    assert leaked(oa.received[-1].body) == []


def test_anthropic_tool_use_input_is_restored(gw: GatewayServer,
                                              ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    _, an = ups
    c = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(), max_retries=0)
    r = c.messages.create(model="claude", max_tokens=512, tools=[{
        "name": "lookup", "description": "Look up.", "input_schema": {
            "type": "object", "properties": {"query": {"type": "string"}}}}],
        messages=[{"role": "user", "content": SHORT}])
    use = r.content[0]
    assert use.type == "tool_use"
    assert use.input == {"query": SHORT}
    assert leaked(an.received[-1].body) == []


def test_the_same_value_gets_the_same_stand_in_across_turns(
        gw: GatewayServer, ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    oa, _ = ups
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    msg = "mail jane.roe@example-mail.com"
    c.chat.completions.create(model="chat", messages=[{"role": "user", "content": msg}])
    first = oa.received[-1].body["messages"][0]["content"]
    c.chat.completions.create(model="chat", messages=[
        {"role": "user", "content": msg}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again: jane.roe@example-mail.com"}])
    second = oa.received[-1].body["messages"]
    assert second[0]["content"] == first
    assert second[2]["content"] == "again: " + first.removeprefix("mail ")
    assert "@example." in first


def test_redact_and_block_and_allow(ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    oa, _ = ups
    settings = {
        "providers": {"oa": {"type": "openai", "base_url": oa.base_url + "/v1",
                             "api_key": "env:OA_KEY"}},
        "models": {"red": {"targets": ["oa/m"], "guards": {"pii": "redact"}},
                   "blk": {"targets": ["oa/m"], "guards": {"pii": "block"}},
                   "mix": {"targets": ["oa/m"], "privacy": {"actions": {
                       "EMAIL": "allow", "US_SSN": "block"}}}},
    }
    with GatewayServer(settings, env={"OA_KEY": "sk-x"}) as g:
        c = openai.OpenAI(base_url=g.openai_base_url, api_key=g.create_key(), max_retries=0)
        r = c.chat.completions.create(model="red", messages=[
            {"role": "user", "content": "mail jane.roe@example-mail.com now"}])
        assert r.choices[0].message.content == "You said: mail [EMAIL] now"
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="blk", messages=[{"role": "user", "content": PERSONAL}])
        err: Any = e.value.body
        assert err["code"] == "pii_blocked"
        assert "EMAIL" in err["message"]
        assert "US_SSN" in err["message"]
        assert leaked(err) == []
        calls = oa.calls
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="mix", messages=[{"role": "user", "content": PERSONAL}])
        assert oa.calls == calls  # refused before any provider saw it
        c.chat.completions.create(model="mix", messages=[
            {"role": "user", "content": "mail jane.roe@example-mail.com"}])
        assert "jane.roe@example-mail.com" in json.dumps(oa.received[-1].body)


def test_embedding_inputs_are_minimised_too(ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    oa, _ = ups
    with GatewayServer({
        "providers": {"oa": {"type": "openai", "base_url": oa.base_url + "/v1",
                             "api_key": "env:OA_KEY"}},
        "models": {"emb": {"targets": ["oa/text-embedding-3-small"], "kind": "embeddings"}},
    }, env={"OA_KEY": "sk-x"}) as g:
        c = openai.OpenAI(base_url=g.openai_base_url, api_key=g.create_key(), max_retries=0)
        r = c.embeddings.create(model="emb", input=[PERSONAL, "nothing personal"])
        assert len(r.data) == 2
        sent = oa.received[-1].body
        assert leaked(sent) == []
        assert sent["input"][1] == "nothing personal"


def test_a_credential_leaves_as_a_marked_example_and_the_output_check_lets_it_pass(
        gw: GatewayServer, ups: tuple[FakeUpstream, FakeUpstream]) -> None:
    oa, _ = ups
    key = "sk-ant-api03-" + "Xk9vQ2mLr7TbW4yZ8pNcJ5hF3dS6gA1eRuIoPlKjHgFdSaQw"
    text = f"rotate my key {key} please"
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    r = c.chat.completions.create(model="chat", messages=[{"role": "user", "content": text}])
    sent = json.dumps(oa.received[-1].body)
    assert key not in sent
    assert "sk-ant-EXAMPLE" in sent
    assert r.choices[0].message.content == f"You said: {text}"
