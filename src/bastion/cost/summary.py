"""Summarising dropped turns (``models.<alias>.context.summarize_with``).

:func:`summary_request` writes the request sent to the summarising alias: an
instruction, then the dropped turns as a plain transcript (tool calls as
``name(arguments)``, tool results as text), the newest :data:`INPUT_MAX_CHARS` of it
when longer. :func:`summary_message` is what replaces the dropped turns: one user
message, marked as a summary written by the gateway (a user message, not a system
one: the summary comes from the conversation, so it gets no more authority than the
conversation had).
"""

from __future__ import annotations

from collections.abc import Sequence

from bastion.core.types import ChatRequest, Message

INPUT_MAX_CHARS = 200_000
PREFIX = "[Summary of the earlier conversation, written by the gateway]\n"
INSTRUCTION = (
    "You summarise the earlier part of a conversation between a user and an assistant, "
    "so the conversation can continue without it. Keep every fact, name, number, "
    "decision, preference and open question that later turns may need; drop greetings "
    "and repetition. Write only the summary, in the conversation's language, in at most "
    "{words} words.")


def transcript(messages: Sequence[Message]) -> str:
    lines = []
    for m in messages:
        text = m.text()
        calls = [f"{tc.function.name or 'tool'}({tc.function.arguments or ''})"
                 for tc in m.tool_calls or ()]
        if m.role in {"tool", "function"}:
            lines.append(f"tool result: {text}")
            continue
        if text:
            lines.append(f"{m.role}: {text}")
        if calls:
            lines.append(f"{m.role} called: {'; '.join(calls)}")
    out = "\n".join(lines)
    return out[-INPUT_MAX_CHARS:]


def summary_request(alias: str, messages: Sequence[Message], max_tokens: int) -> ChatRequest:
    words = max(10, max_tokens * 3 // 4)
    return ChatRequest(model=alias, temperature=0, max_tokens=max_tokens, messages=[
        Message(role="system", content=INSTRUCTION.format(words=words)),
        Message(role="user", content=transcript(messages)),
    ])


def summary_message(text: str) -> Message:
    return Message(role="user", content=PREFIX + text.strip())
