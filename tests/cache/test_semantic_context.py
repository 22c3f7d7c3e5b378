"""Reading conversations: which questions depend on them, and when two contexts agree."""

from __future__ import annotations

import pytest

from bastion.cache.semantic.context import depends, read, same_context
from bastion.cache.semantic.text import analyse
from bastion.core.types import ChatRequest, Message


@pytest.mark.parametrize(("question", "dependent"), [
    ("yes please", True), ("cancel it", True), ("and with the TV add-on?", True),
    ("the second one", True), ("how long does that take?", True),
    ("can I bring my 12 year old?", True),
    ("What is the cooling-off period for a new broadband contract?", False),
    ("Do you accept Amex?", True), ("Do you accept Amex at the Leeds store?", False),
    ("Is it safe to take ibuprofen with coffee after surgery?", False),
])
def test_which_questions_depend_on_the_conversation(question: str, dependent: bool) -> None:
    assert depends(analyse(question)) is dependent


def reading(*texts: str) -> tuple[str, str]:
    msgs = [Message(role="user" if i % 2 == 0 else "assistant", content=t)
            for i, t in enumerate(texts)]
    r = read("s", b"f", ChatRequest(model="m", messages=msgs))
    assert r is not None
    assert r.dependent
    return r.partition, r.context


def test_contexts_agree_on_facts_and_choices() -> None:
    base = reading("I'm on Fibre 150", "Fibre 150 is £26 a month.", "and with TV?")
    assert same_context(base[1], reading("Fibre 150 for me", "OK! Fibre 150 costs £26 monthly.",
                                         "and with TV?")[1])
    assert not same_context(base[1], reading("I'm on Fibre 900", "Fibre 900 is £45 a month.",
                                             "and with TV?")[1])
    first = reading("help", "Would you like a refund, or store credit?", "the first one")
    swapped = reading("help", "Would you like store credit, or a refund?", "the first one")
    assert not same_context(first[1], swapped[1])


def test_system_prompt_and_tools_are_part_of_the_partition() -> None:
    def part(system: str) -> str:
        r = read("s", b"f", ChatRequest(model="m", messages=[
            Message(role="system", content=system), Message(role="user", content="hi there")]))
        assert r is not None
        return r.partition

    assert part("You are a vet.") != part("You are a lawyer.")


def test_long_conversations_opened_about_different_things_differ() -> None:
    # Both chats mention both payments; only the opening says which one "that one" is.
    flick = reading("Please stop my Flickbox payment of £10.99.", "I can block Flickbox.",
                    "Also PulseFit is fine, leave it.", "Noted, PulseFit stays.",
                    "ok, cancel that one then")
    pulse = reading("Please stop my PulseFit payment of £10.99.", "I can block PulseFit.",
                    "Also Flickbox is fine, leave it.", "Noted, Flickbox stays.",
                    "ok, cancel that one then")
    assert not same_context(flick[1], pulse[1])
    again = reading("please stop my Flickbox payment of £10.99", "Sure, I can block Flickbox.",
                    "Also PulseFit is fine, leave it.", "Noted, PulseFit stays.",
                    "ok, cancel that one then")
    assert same_context(flick[1], again[1])


def test_a_question_about_the_askers_own_thing_depends_on_the_talk_about_it() -> None:
    def dependent(*texts: str) -> bool:
        msgs = [Message(role="user" if i % 2 == 0 else "assistant", content=t)
                for i, t in enumerate(texts)]
        r = read("s", b"f", ChatRequest(model="m", messages=msgs))
        assert r is not None
        return r.dependent

    question = "What is the early cancellation fee on my broadband contract?"
    assert dependent("I'm on the Fibre 150 broadband contract.", "Noted.", question)
    # Earlier talk about something else leaves it a question of its own.
    assert not dependent("Can I pay by card?", "Yes.", question)
