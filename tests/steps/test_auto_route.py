"""An alias of kind ``auto`` sends simple requests to its cheap alias and complex ones to
its strong alias, over real HTTP with the official SDKs, both dialects; the decision and
its reason are on the request's log line and in the metrics."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream import OPENAI_ROUTES
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

CODE_TASK = ("Please refactor our retry helper below into an async function with jittered "
             "backoff and Retry-After support, with type hints and unit tests.\n\n"
             "def retry(fn, n=3):\n    for i in range(n):\n        try:\n"
             "            return fn()\n        except Exception:\n"
             "            time.sleep(2 ** i)\n    raise RuntimeError('failed')\n" * 3)
RUN_TESTS = {"name": "run_tests", "description": "Run the project's test suite",
             "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}


def settings(base_url: str, **auto: Any) -> dict[str, Any]:
    return {
        "providers": {"oa": {"type": "openai_compatible", "base_url": base_url}},
        "models": {
            "assistant": {"kind": "auto", "auto": {"cheap": "small", "strong": "big", **auto}},
            "small": {"targets": [{"target": "oa/gpt-4o-mini",
                                   "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.1}}]},
            "big": {"targets": [{"target": "oa/gpt-4o",
                                 "price": {"input_per_mtok": 1000, "output_per_mtok": 1000}}]},
        },
    }


@pytest.fixture
def setup() -> Iterator[tuple[FakeUpstream, GatewayServer]]:
    with FakeUpstream(routes={**OPENAI_ROUTES, **ANTHROPIC_ROUTES}) as up, \
            GatewayServer(settings(up.base_url)) as gw:
        yield up, gw


def request_lines(captured: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.getvalue().splitlines()
            if '"event": "request"' in line or '"event":"request"' in line]


def test_a_yes_no_question_goes_cheap_and_a_code_task_with_tools_goes_strong_openai(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                           max_retries=0)
    r = client.chat.completions.create(model="assistant", messages=[
        {"role": "user", "content": "Is Canberra the capital of Australia? Answer yes or no."}])
    assert r.choices[0].message.content
    assert up.received[-1].body["model"] == "gpt-4o-mini"
    r = client.chat.completions.create(
        model="assistant", tools=[{"type": "function", "function": RUN_TESTS}],
        messages=[{"role": "system", "content": "You are a senior engineer."},
                  {"role": "user", "content": CODE_TASK}])
    assert up.received[-1].body["model"] == "gpt-4o"
    cheap, strong = (line["decisions"]["auto_route"] for line in request_lines(captured))
    assert cheap["alias"] == "assistant"
    assert cheap["to"] == "small"
    assert (cheap["choice"], cheap["reason"]) == ("cheap", "yes_no")
    assert strong["to"] == "big"
    assert strong["choice"] == "strong"
    assert strong["reason"] == "tools"
    assert "code_block" in strong["signals"]
    # the decision names rules, never request text
    assert "Canberra" not in json.dumps(cheap)
    assert "retry" not in json.dumps(strong)
    lines = request_lines(captured)
    assert [line["alias"] for line in lines] == ["small", "big"]
    # and on the usage rows, where the dashboard and the reports read them
    gw.run(gw.gateway.recorder.flush())
    rows = gw.run(gw.gateway.db.sql_fetch("SELECT alias, decisions FROM usage ORDER BY ts"))
    assert [(alias, json.loads(d)["auto_route"]["reason"]) for alias, d in rows] == [
        ("small", "yes_no"), ("big", "tools")]
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert ('bastion_auto_route_total{alias="assistant",choice="cheap",reason="yes_no"} 1.0'
            in metrics)
    assert 'bastion_auto_route_total{alias="assistant",choice="strong",reason="tools"} 1.0' \
        in metrics


def test_the_same_for_anthropic_clients_and_streams(
        setup: tuple[FakeUpstream, GatewayServer], captured: io.StringIO) -> None:
    up, gw = setup
    client = anthropic.Anthropic(base_url=gw.base_url, api_key=gw.create_key(),
                                 max_retries=0)
    r = client.messages.create(model="assistant", max_tokens=64, messages=[
        {"role": "user", "content": "Does water boil at 100 degrees Celsius at sea level? "
                                    "Reply yes or no."}])
    assert r.content
    assert up.received[-1].body["model"] == "gpt-4o-mini"
    with client.messages.stream(
            model="assistant", max_tokens=256,
            tools=[{"name": RUN_TESTS["name"], "description": RUN_TESTS["description"],
                    "input_schema": RUN_TESTS["parameters"]}],
            messages=[{"role": "user", "content": CODE_TASK}]) as stream:
        stream.get_final_message()
    assert up.received[-1].body["model"] == "gpt-4o"
    cheap, strong = (line["decisions"]["auto_route"] for line in request_lines(captured))
    assert (cheap["to"], cheap["reason"]) == ("small", "yes_no")
    assert (strong["to"], strong["reason"]) == ("big", "tools")
    # Anthropic clients asking for extended thinking go strong
    client.messages.create(model="assistant", max_tokens=2048,
                           thinking={"type": "enabled", "budget_tokens": 1024},
                           messages=[{"role": "user", "content": "Is 2024 a leap year?"}])
    assert up.received[-1].body["model"] == "gpt-4o"
    assert request_lines(captured)[-1]["decisions"]["auto_route"]["reason"] == "reasoning"


def test_scope_is_checked_for_the_alias_asked_for(
        setup: tuple[FakeUpstream, GatewayServer]) -> None:
    up, gw = setup
    scoped = openai.OpenAI(base_url=gw.openai_base_url, max_retries=0,
                           api_key=gw.create_key(models=["assistant"]))
    scoped.chat.completions.create(model="assistant", messages=[
        {"role": "user", "content": "Translate 'good morning' to French."}])
    assert up.received[-1].body["model"] == "gpt-4o-mini"
    with pytest.raises(openai.PermissionDeniedError) as e:
        scoped.chat.completions.create(model="small", messages=[
            {"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_allowed"
    other = openai.OpenAI(base_url=gw.openai_base_url, max_retries=0,
                          api_key=gw.create_key(models=["small", "big"]))
    with pytest.raises(openai.PermissionDeniedError):
        other.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "hi"}])
    listed = [m.id for m in scoped.models.list()]
    assert listed == ["assistant"]
    with pytest.raises(openai.BadRequestError):
        scoped.embeddings.create(model="assistant", input="x")


def test_admission_prices_the_request_at_the_picked_alias(
        setup: tuple[FakeUpstream, GatewayServer]) -> None:
    """The budget is reserved at the prices of the alias picked, not of the auto alias:
    the cheap alias's request fits a one-cent budget, the strong alias's does not."""
    up, gw = setup
    client = openai.OpenAI(base_url=gw.openai_base_url, max_retries=0,
                           api_key=gw.create_key(budget_usd=0.01))
    client.chat.completions.create(model="assistant", max_tokens=16, messages=[
        {"role": "user", "content": "Classify the sentiment of 'great service!' as "
                                    "positive or negative. One word."}])
    assert up.received[-1].body["model"] == "gpt-4o-mini"
    calls = up.calls
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="assistant", max_tokens=16, messages=[
            {"role": "user", "content": "Design a URL shortener for 100k writes a second and "
                                        "explain the trade-offs of each part."}])
    assert e.value.code == "budget_exceeded"
    assert up.calls == calls  # refused before any provider saw it


def test_thresholds_are_settings() -> None:
    """``max_cheap_prompt_tokens`` and ``max_cheap_turns`` send longer prompts and longer
    conversations strong."""
    with FakeUpstream() as up, GatewayServer(settings(
            up.base_url, max_cheap_prompt_tokens=20, max_cheap_turns=1)) as gw:
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0)
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "Is 97 a prime number? Yes or no."}])
        assert up.received[-1].body["model"] == "gpt-4o-mini"
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "Is this email spam? Answer yes or no. 'Dear customer, "
                                        "your parcel is waiting, pay the customs fee of 1.99 "
                                        "at the link below within 24 hours or it is returned.'"}])
        assert up.received[-1].body["model"] == "gpt-4o"
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "Capital of Spain? One word."},
            {"role": "assistant", "content": "Madrid"},
            {"role": "user", "content": "Of Portugal? One word."}])
        assert up.received[-1].body["model"] == "gpt-4o"


def test_the_classifier_decides_what_the_rules_leave_open(captured: io.StringIO) -> None:
    with FakeUpstream() as up, GatewayServer(settings(up.base_url, classifier=True)) as gw:
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0)
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "What does HTTP stand for?"}])
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "Is this review positive? Answer yes or no. "
                                        "'Lovely staff.'"}])
        client.chat.completions.create(model="assistant", messages=[
            {"role": "user", "content": "We keep running out of disk on our search cluster "
                                        "every few weeks. How do we fix this for good?"}])
    asked, closed, open_ended = (line["decisions"]["auto_route"]
                                 for line in request_lines(captured))
    assert asked["reason"] == "classifier"
    assert 0 <= asked["p_complex"] <= 1
    assert "question" in asked["signals"]  # the rules' own view stays on record
    assert closed["reason"] == "yes_no"
    assert "p_complex" not in closed
    assert open_ended["reason"] == "classifier"
    assert open_ended["choice"] == "strong"
    assert open_ended["p_complex"] > asked["p_complex"]
