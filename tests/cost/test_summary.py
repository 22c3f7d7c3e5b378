"""The request that summarises dropped turns, and the message that replaces them."""

from __future__ import annotations

import msgspec

from bastion.core.types import Message
from bastion.cost import summary


def test_the_transcript_holds_every_turn_with_tool_calls_and_results() -> None:
    turns = [Message(role="user", content="Where is order 7?"),
             msgspec.convert({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                              "function": {"name": "lookup", "arguments": '{"n": 7}'}}]},
                             Message),
             Message(role="tool", tool_call_id="c", content="shipped Monday"),
             Message(role="assistant", content="It shipped on Monday.")]
    req = summary.summary_request("helper", turns, max_tokens=80)
    assert req.model == "helper"
    assert req.max_tokens == 80
    assert req.temperature == 0
    assert req.messages[0].role == "system"
    assert "60 words" in req.messages[0].text()
    assert req.messages[1].text() == ("user: Where is order 7?\n"
                                      'assistant called: lookup({"n": 7})\n'
                                      "tool result: shipped Monday\n"
                                      "assistant: It shipped on Monday.")


def test_a_long_transcript_keeps_its_newest_part() -> None:
    turns = [Message(role="user", content="old " * 60_000), Message(role="user", content="new")]
    text = summary.transcript(turns)
    assert len(text) == summary.INPUT_MAX_CHARS
    assert text.endswith("user: new")


def test_the_summary_is_a_marked_user_message() -> None:
    m = summary.summary_message("  The user wants order 7.  ")
    assert m.role == "user"
    assert m.text() == summary.PREFIX + "The user wants order 7."
