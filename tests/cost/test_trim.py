"""Which turns a prompt budget drops: never a system message, never the last user turn,
never a tool call apart from its result; counted the way the targets count."""

from __future__ import annotations

from typing import Any

import msgspec

from bastion.core.types import ChatRequest, Message
from bastion.cost.trim import plan, units
from bastion.traffic.tokens import ESTIMATE, count_chat


def msgs(*spec: Any) -> list[Message]:
    out = []
    for s in spec:
        if isinstance(s, Message):
            out.append(s)
        else:
            role, text = s
            out.append(Message(role=role, content=text))
    return out


def call(call_id: str) -> Message:
    return msgspec.convert({"role": "assistant", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        Message)


def result(call_id: str) -> Message:
    return Message(role="tool", tool_call_id=call_id, content="ok")


def test_turns_run_from_one_user_message_to_the_next() -> None:
    m = msgs(("system", "s"), ("user", "u0"), ("assistant", "a0"), ("user", "u1"),
             ("assistant", "a1"), ("user", "last"))
    assert units(m) == [(0, 3), (3, 5)]
    assert units(msgs(("system", "s"), ("user", "only"))) == []
    assert units(msgs(("assistant", "a"))) == []


def test_a_call_and_its_result_are_never_apart() -> None:
    # a user message between a call and its result (a client's odd order) joins the turns
    m = msgs(("user", "u0"), call("c1"), ("user", "u1"), result("c1"), ("assistant", "a"),
             ("user", "u2"), ("assistant", "a2"), ("user", "last"))
    assert units(m) == [(0, 5), (5, 7)]
    # a call answered after the last user message pins its turn and every later one
    m = msgs(("user", "u0"), ("assistant", "a0"), ("user", "u1"), call("c2"),
             ("user", "last"), result("c2"))
    assert units(m) == [(0, 2)]
    # legacy function calls pair with the nearest earlier function_call
    fc = msgspec.convert({"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                         Message)
    m = msgs(("user", "u0"), fc, ("user", "u1"), Message(role="function", name="f", content="r"),
             ("user", "last"))
    assert units(m) == [(0, 4)]


def req(messages: list[Message]) -> ChatRequest:
    return ChatRequest(model="m", messages=messages)


def test_the_oldest_turns_go_first_and_system_messages_stay() -> None:
    long = "word " * 100
    m = msgs(("system", "rules"), ("user", long), ("assistant", long), ("system", "mid"),
             ("user", long), ("assistant", "short"), ("user", "last question"))
    total = count_chat(req(m), "o200k_base")
    p = plan(req(m), ("o200k_base",), budget=total - 10)
    assert p.total == total
    assert p.dropped == (1, 2)  # the first turn only: enough to fit
    assert p.fits
    assert p.kept["o200k_base"] <= total - 10
    kept = [x for i, x in enumerate(m) if i not in p.dropped]
    assert p.kept["o200k_base"] == count_chat(req(kept), "o200k_base")
    # a tighter budget drops the second turn too, never the system messages or the last turn
    p = plan(req(m), ("o200k_base",), budget=60)
    assert p.dropped == (1, 2, 4, 5)
    assert p.fits
    # a reserve (room for a summary) drops more
    assert plan(req(m), ("o200k_base",), budget=total - 10, reserve=250).dropped == (1, 2, 4, 5)


def test_within_budget_nothing_goes_and_over_what_can_go_it_says_so() -> None:
    m = msgs(("system", "s"), ("user", "hello"))
    p = plan(req(m), ("o200k_base",), budget=1000)
    assert p.dropped == ()
    assert p.fits
    m = msgs(("system", "s"), ("user", "word " * 500))
    p = plan(req(m), ("o200k_base",), budget=100)
    assert p.dropped == ()
    assert not p.fits
    assert p.total > 100


def test_every_counting_method_is_respected() -> None:
    m = msgs(("user", "ünïcödé " * 50), ("assistant", "ok"), ("user", "last"))
    exact, estimate = (count_chat(req(m), x) for x in ("o200k_base", ESTIMATE))
    p = plan(req(m), ("o200k_base", ESTIMATE), budget=min(exact, estimate) + 1)
    assert p.total == max(exact, estimate)
    assert p.dropped == (0, 1)
    assert set(p.kept) == {"o200k_base", ESTIMATE}
    assert p.system == 0
