"""Context trimming over real HTTP with the official SDKs: a conversation over its alias's
prompt budget reaches the provider without its oldest turns, but with its system prompt,
its last user turn and every tool call beside its result; summaries, warnings, metrics."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest

from bastion.core.types import ChatRequest
from bastion.cost.summary import PREFIX
from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream import OPENAI_ROUTES, Behavior
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES, signature
from bastion.traffic.tokens import count_chat

SYSTEM = "You are the support assistant of Example Inc. Answer briefly and politely."
BUDGET = 400
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 1.0}


def words(tag: str, n: int) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def conversation() -> list[dict[str, Any]]:
    """Six turns of about 80 tokens each, tool calls and results among them."""
    out: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for k in range(6):
        out.append({"role": "user", "content": f"Question {k}: " + words("q", 40)})
        if k % 2:
            out.append({"role": "assistant", "tool_calls": [
                {"id": f"call_{k}", "type": "function",
                 "function": {"name": "lookup", "arguments": json.dumps({"n": k})}}]})
            out.append({"role": "tool", "tool_call_id": f"call_{k}",
                        "content": "result " + words("r", 20)})
        out.append({"role": "assistant", "content": f"Answer {k}: " + words("a", 20)})
    out.append({"role": "user", "content": "And what is the final answer?"})
    return out


LOOKUP = {"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"n": {"type": "integer"}}}}}


@pytest.fixture
def setup() -> Iterator[tuple[FakeUpstream, GatewayServer]]:
    budget = {"max_prompt_tokens": BUDGET}
    with FakeUpstream(routes={**OPENAI_ROUTES, **ANTHROPIC_ROUTES}) as up:
        s = {
            # no spotlighting: the provider then gets the client's messages verbatim (but
            # for what trimming drops), which is what these tests compare
            "guards": {"injection": {"spotlight": "off"}},
            "providers": {"oa": {"type": "openai_compatible", "base_url": up.base_url},
                          "an": {"type": "anthropic", "base_url": up.base_url,
                                 "api_key": "env:AN"}},
            "models": {
                "chat": {"targets": [{"target": "oa/gpt-4o", "price": PRICE}],
                         "context": budget},
                "claude": {"targets": ["an/claude-sonnet-4-5"], "context": budget},
                "summarized": {"targets": [{"target": "oa/gpt-4o", "price": PRICE}],
                               "context": {**budget, "summarize_with": "summarizer",
                                           "summary_max_tokens": 64}},
                "summarizer": {"targets": [{"target": "oa/gpt-4o-mini", "price": PRICE}]},
                "cached": {"targets": ["oa/gpt-4o"], "context": {"max_prompt_tokens": 200},
                           "cache": {"enabled": "on"}},
            },
        }
        with GatewayServer(s, env={"AN": "sk-ant-test-0123456789"}) as gw:
            yield up, gw


def check_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool result follows its call and every call has its result."""
    calls: set[str] = set()
    answered: set[str] = set()
    for m in messages:
        for tc in m.get("tool_calls") or ():
            calls.add(tc["id"])
        if m["role"] == "tool":
            assert m["tool_call_id"] in calls, "a tool result without its call"
            answered.add(m["tool_call_id"])
    assert calls == answered, "a tool call without its result"


def last_request(captured: io.StringIO) -> dict[str, Any]:
    lines = [json.loads(x) for x in captured.getvalue().splitlines() if '"request"' in x]
    return [x for x in lines if x.get("event") == "request"][-1]


def test_openai_the_oldest_turns_go_and_the_rest_stays_whole(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    sent = conversation()
    full = count_chat(msgspec.convert({"model": "gpt-4o", "messages": sent, "tools": [LOOKUP]},
                                      ChatRequest), "o200k_base")
    assert full > BUDGET
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    client.chat.completions.create(model="chat", messages=sent, tools=[LOOKUP])
    got = up.received[-1].body
    msgs = got["messages"]
    assert msgs[0] == {"role": "system", "content": SYSTEM}
    assert msgs[-1] == sent[-1]
    assert msgs[1]["role"] == "user"
    assert len(msgs) < len(sent)
    assert msgs[1:] == sent[len(sent) - len(msgs) + 1:]  # what is kept is the newest part
    check_pairs(msgs)
    kept = count_chat(msgspec.convert(got, ChatRequest), "o200k_base")
    assert kept <= BUDGET
    trim = last_request(captured)["decisions"]["trim"]
    assert trim["mode"] == "dropped"
    assert trim["budget"] == BUDGET
    assert trim["prompt_tokens"] == full
    assert trim["kept_tokens"] == kept
    assert trim["dropped_messages"] == len(sent) - len(msgs)
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'bastion_context_trimmed_total{alias="chat",mode="dropped"} 1.0' in metrics
    assert f'bastion_context_trimmed_tokens_total{{alias="chat"}} {float(full - kept)}' in metrics
    # a conversation within the budget goes out as sent
    client.chat.completions.create(model="chat", messages=sent[:1] + sent[-1:])
    assert up.received[-1].body["messages"] == sent[:1] + sent[-1:]


def test_a_stream_is_trimmed_the_same_way(setup: tuple[FakeUpstream, GatewayServer]) -> None:
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    with client.chat.completions.create(model="chat", messages=conversation(),
                                        tools=[LOOKUP], stream=True) as stream:
        assert any(c.choices and c.choices[0].finish_reason for c in stream)
    msgs = up.received[-1].body["messages"]
    assert msgs[0]["content"] == SYSTEM
    assert msgs[-1]["content"] == conversation()[-1]["content"]
    check_pairs(msgs)


def test_anthropic_tool_results_and_signed_thinking_stay_with_their_turns(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    """The fake Anthropic upstream refuses a tool_result without the tool_use just before it,
    and (thinking on) an assistant tool_use turn that does not start with its own signed
    thinking block: dropping turns must keep both right."""
    up, gw = setup
    t1, t2 = "Thinking about the first question.", "I should look this up."
    messages: list[Any] = [
        {"role": "user", "content": "Question 0: " + words("q", 300)},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": t1, "signature": signature(t1)},
            {"type": "text", "text": "Answer 0: " + words("a", 40)}]},
        {"role": "user", "content": "Question 1: which order is late?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": t2, "signature": signature(t2)},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"n": 1}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "order 7 is late"},
            {"type": "text", "text": "So what do I tell the customer?"}]},
    ]
    client = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(), max_retries=0)
    r = client.messages.create(
        model="claude", max_tokens=2048, system=SYSTEM, messages=messages,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[{"name": "lookup", "input_schema": {"type": "object"}}])
    assert r.content
    got = up.received[-1].body
    assert got["system"] == SYSTEM
    turns = got["messages"]
    assert turns[0] == {"role": "user", "content": [
        {"type": "text", "text": "Question 1: which order is late?"}]} or \
        turns[0]["content"] == "Question 1: which order is late?"
    assert turns[1]["content"][0] == {"type": "thinking", "thinking": t2,
                                      "signature": signature(t2)}
    assert turns[2]["content"][0]["type"] == "tool_result"
    assert turns[2]["content"][-1]["text"] == "So what do I tell the customer?"
    assert last_request(captured)["decisions"]["trim"]["dropped_messages"] == 2


def test_a_large_system_prompt_is_warned_about(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    big = "Policy: " + words("rule", 250)  # about 250 tokens: over half the 400 budget
    for _ in range(2):
        client.chat.completions.create(model="chat", messages=[
            {"role": "system", "content": big}, {"role": "user", "content": "hi"}])
    assert up.received[-1].body["messages"][0]["content"] == big  # warned, never cut
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'bastion_context_system_prompt_over_share_total{alias="chat"} 2.0' in metrics
    warnings = [json.loads(x) for x in captured.getvalue().splitlines()
                if "context_system_prompt_large" in x]
    assert len(warnings) == 1  # one line a minute per alias, the metric counts them all
    assert warnings[0]["alias"] == "chat"
    assert warnings[0]["budget"] == BUDGET
    assert warnings[0]["system_prompt_tokens"] > BUDGET / 2
    assert "rule1" not in captured.getvalue()  # no prompt text in the logs
    assert last_request(captured)["decisions"]["system_prompt_tokens"] > BUDGET / 2


def test_summarize_with_replaces_the_dropped_turns_and_its_cost_counts(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    sent = conversation()
    before = up.calls
    client.chat.completions.create(model="summarized", messages=sent, tools=[LOOKUP])
    assert up.calls == before + 2
    summary_call, main_call = up.received[-2].body, up.received[-1].body
    assert summary_call["model"] == "gpt-4o-mini"
    assert summary_call["max_tokens"] == 64
    assert "Question 0" in summary_call["messages"][1]["content"]  # the dropped turns
    assert "final answer" not in summary_call["messages"][1]["content"]  # not the kept ones
    msgs = main_call["messages"]
    assert msgs[0]["content"] == SYSTEM
    assert msgs[-1] == sent[-1]
    assert msgs[1]["role"] == "user"
    assert msgs[1]["content"].startswith(PREFIX)
    check_pairs(msgs)
    line = last_request(captured)
    trim = line["decisions"]["trim"]
    assert trim["mode"] == "summarized"
    summary = trim["summary"]
    assert summary["alias"] == "summarizer"
    assert summary["target"] == "oa/gpt-4o-mini"
    assert summary["cost_usd"] > 0
    main_usage = line["prompt_tokens"] + line["completion_tokens"]
    assert line["cost_usd"] == pytest.approx(main_usage / 1e6 + summary["cost_usd"], rel=1e-6)


def test_a_failed_summary_falls_back_to_dropping(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    up.push(Behavior(kind="status", status=400))  # the summary call is refused
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    client.chat.completions.create(model="summarized", messages=conversation(), tools=[LOOKUP])
    msgs = up.received[-1].body["messages"]
    assert not any(str(m.get("content") or "").startswith(PREFIX) for m in msgs)
    check_pairs(msgs)
    trim = last_request(captured)["decisions"]["trim"]
    assert trim["mode"] == "dropped"
    assert trim["summary"]["failed"] == "upstream_rejected"


def test_what_cannot_be_dropped_goes_out_and_is_marked_over_budget(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    long_question = "Please read: " + words("w", 600)
    client.chat.completions.create(model="chat", messages=[
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": long_question}])
    assert up.received[-1].body["messages"][-1]["content"] == long_question
    trim = last_request(captured)["decisions"]["trim"]
    assert trim["mode"] == "over_budget"
    assert trim["still_over"] is True
    assert trim["dropped_messages"] == 0


def test_the_cache_keys_the_trimmed_request(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    """Two conversations that differ only in turns the budget drops are the same request."""
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    recent = [{"role": "user", "content": "What are your opening hours?"},
              {"role": "assistant", "content": "Nine to five."},
              {"role": "user", "content": "And on Saturdays?"}]
    for old in ("Tell me about " + words("x", 300), "Something else " + words("y", 300)):
        client.chat.completions.create(model="cached", temperature=0, messages=[
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": old},
            {"role": "assistant", "content": "Sure."}, *recent])
    assert last_request(captured)["decisions"]["cache"] == "hit"
    assert up.received[-1].body["messages"][1:] == recent
