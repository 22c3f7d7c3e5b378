"""The routing rules: each signal, the order they apply in, and what a decision records."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from bastion.core.types import ChatRequest
from bastion.cost.classifier import shipped_model
from bastion.cost.rules import REASONS, Decision, Rules, decide, estimate_tokens, instruction

RULES = Rules()


def ask(text: str, system: str | None = None, **extra: Any) -> ChatRequest:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text})
    return msgspec.convert({"model": "auto", "messages": messages, **extra}, ChatRequest)


@pytest.mark.parametrize(("text", "extra", "reason"), [
    ("What's the weather in Oslo?",
     {"tools": [{"type": "function", "function": {"name": "weather"}}]}, "tools"),
    ("What is in this picture?", {}, "attachments"),
    ("Is 7 prime? yes or no", {"reasoning_effort": "high"}, "reasoning"),
    ("Summarize in one sentence: " + "lorem ipsum " * 800, {}, "long_context"),
    ("Is this right?\n```\nx = 1\n```", {}, "code_block"),
    ('Help:\nTraceback (most recent call last):\n  File "a.py", line 3', {}, "code_block"),
])
def test_hard_signals_send_strong(text: str, extra: dict[str, Any], reason: str) -> None:
    req = ask(text, **extra)
    if reason == "attachments":
        req.messages[-1].content = [{"type": "text", "text": text},
                                    {"type": "image_url", "image_url": {"url": "http://x/a.png"}}]
    d = decide(req, RULES)
    assert (d.choice, d.reason, d.settled) == ("strong", reason, True)


def test_a_long_conversation_goes_strong() -> None:
    turns: list[dict[str, str]] = []
    for i in range(5):
        turns += [{"role": "user", "content": f"q{i}?"}, {"role": "assistant", "content": "a"}]
    turns.append({"role": "user", "content": "thanks!"})
    req = msgspec.convert({"model": "auto", "messages": turns}, ChatRequest)
    assert decide(req, RULES).reason == "long_conversation"
    assert decide(req, Rules(max_cheap_turns=10)).choice == "cheap"


@pytest.mark.parametrize(("text", "system", "choice", "reason"), [
    ("Is Canberra the capital of Australia? Answer yes or no.", None, "cheap", "yes_no"),
    ("The export function throws a NullPointerException.", "Classify the ticket as bug or "
     "question. Output the label only.", "cheap", "label"),  # closed answer beats code words
    ("Write a Python function that merges intervals.", None, "strong", "code"),
    ("Compare event sourcing and CRUD for a ledger.", None, "strong", "analysis"),
    ("Write a 1,200-word blog post on accessibility.", None, "strong", "long_writing"),
    ("What is the probability of two sixes in five dice?", None, "strong", "math"),
    ("Extract the email address: 'write to ana@example.com'", None, "cheap", "extraction"),
    ("Translate to French: 'Where is the station?'", None, "cheap", "translation"),
    ("Fix the grammar: 'She don't like it.'", None, "cheap", "rewrite"),
    ("Convert 72 degrees Fahrenheit to Celsius.", None, "cheap", "conversion"),
    ("Who painted the Mona Lisa?", None, "cheap", "question"),
    ("thanks, bye", None, "cheap", "chitchat"),
    ("How would you reform zoning after a housing crisis?", None,
     "strong", "analysis"),
    ("Tell me about the lighthouse keeper's daughter and what she found.", None,
     "strong", "no_simple_cue"),  # no simple cue: strong by default
])
def test_cues(text: str, system: str | None, choice: str, reason: str) -> None:
    d = decide(ask(text, system), RULES)
    assert (d.choice, d.reason) == (choice, reason)
    assert d.reason in REASONS


def test_a_short_follow_up_stays_cheap_unless_the_conversation_asked_for_code() -> None:
    def convo(first: str) -> ChatRequest:
        return msgspec.convert({"model": "auto", "messages": [
            {"role": "user", "content": first}, {"role": "assistant", "content": "Madrid."},
            {"role": "user", "content": "and Portugal?"}]}, ChatRequest)

    assert decide(convo("Capital of Spain?"), RULES).reason == "follow_up"
    assert decide(convo("Write a SQL query for capitals."), RULES).reason == "code"


def test_the_classifier_decides_only_what_is_not_settled() -> None:
    open_case = decide(ask("Tell me about Lisbon."), RULES)
    assert not open_case.settled
    d = open_case.classified(0.1, 0.3)
    assert (d.choice, d.reason, d.p_complex) == ("cheap", "classifier", 0.1)
    assert open_case.classified(0.9, 0.3).choice == "strong"
    settled = decide(ask("Is it raining? yes or no"), RULES)
    assert settled.classified(0.99, 0.3) is settled


def test_a_decision_records_rules_never_text() -> None:
    d = decide(ask("Translate 'secret plan' to German."), RULES)
    out = d.explain()
    assert out == {"choice": "cheap", "reason": "translation", "signals": ["translation"],
                   "est_prompt_tokens": estimate_tokens(ask("Translate 'secret plan' to German."))}
    assert Decision("cheap", "classifier", (), 3, p_complex=0.123456).explain()["p_complex"] \
        == 0.123


def test_instruction_is_the_system_prompt_and_the_last_user_turn_cut_short() -> None:
    req = msgspec.convert({"model": "auto", "messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "old"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "x" * 5000}]},
        ChatRequest)
    text = instruction(req)
    assert text.startswith("Be terse.\nxxx")
    assert len(text) == 1000


def test_the_shipped_classifier_is_whole() -> None:
    m = shipped_model()
    assert len(m.weights) == 384
    assert 0 < m.threshold < 1
    assert 0 < m.p_complex([0.0] * 384) < 1
