"""core/holdback.py: held-back streamed text, released only once judged."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from bastion.core.context import Reply
from bastion.core.errors import ContentFiltered, ProviderStreamBroken
from bastion.core.holdback import (
    PassThrough,
    WindowFilter,
    apply,
    filter_response,
    hold_back,
)
from bastion.core.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)


def chunk(content: str | None = None, *, finish: str | None = None, role: str | None = None,
          tools: list[ToolCall] | None = None, index: int = 0) -> ChatChunk:
    return ChatChunk(id="c1", model="m", choices=[ChunkChoice(
        index=index, delta=Delta(role=role, content=content, tool_calls=tools),
        finish_reason=finish)])


async def source(chunks: list[ChatChunk], error: Exception | None = None
                 ) -> AsyncIterator[ChatChunk]:
    for c in chunks:
        yield c
    if error is not None:
        raise error


def split(text: str, at: list[int]) -> list[ChatChunk]:
    cuts = [0, *at, len(text)]
    return [chunk(role="assistant", content="")] + [
        chunk(text[a:b]) for a, b in itertools.pairwise(cuts) if b > a
    ] + [chunk(finish="stop")]


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [c async for c in stream]


async def collect_until_error(stream: AsyncIterator[ChatChunk], got: list[ChatChunk]) -> None:
    async for c in stream:
        got.append(c)


def text_of(chunks: list[ChatChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


class Rename(PassThrough):
    """Rewrites one name, holding any tail that could be the start of it."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def process(self, text: str, final: bool) -> tuple[str, str]:
        text = text.replace(self.old, self.new)
        if final:
            return text, ""
        for n in range(min(len(self.old) - 1, len(text)), 0, -1):
            if self.old.startswith(text[-n:]):
                return text[:-n], text[-n:]
        return text, ""

    def tool_call(self, name: str, arguments: str) -> str:
        return arguments.replace(self.old, self.new)


async def test_pass_through_keeps_text_and_order() -> None:
    out = await collect(hold_back(source(split("hello world", [2, 5, 7])), PassThrough))
    assert text_of(out) == "hello world"
    assert out[0].choices[0].delta.role == "assistant"
    assert out[-1].choices[0].finish_reason == "stop"


async def test_a_name_split_at_every_point_is_rewritten() -> None:
    text = "Dear Alice, thanks. Alice"
    for i in range(1, len(text)):
        for j in range(i + 1, len(text)):
            out = await collect(hold_back(source(split(text, [i, j])),
                                          lambda: Rename("Alice", "Bob")))
            assert text_of(out) == "Dear Bob, thanks. Bob", (i, j)
            # held text is released before the finishing chunk
            assert out[-1].choices[0].finish_reason == "stop"
            assert not out[-1].choices[0].delta.content


async def test_window_cuts_before_any_part_of_a_secret_is_sent() -> None:
    secret = "sk-SECRET-0123456789"

    def check(text: str) -> None:
        if secret in text:
            raise ContentFiltered("An answer held a secret.")

    text = "Here it is: " + secret + " and more text after it."
    for i in range(1, len(text)):
        got: list[ChatChunk] = []
        stream = hold_back(source(split(text, [i])), lambda: WindowFilter(len(secret), check))
        with pytest.raises(ContentFiltered):
            await collect_until_error(stream, got)
        seen = text_of(got)
        assert "sk-" not in seen, i
        assert got[-1].choices[0].finish_reason == "content_filter"


async def test_window_releases_everything_when_clean() -> None:
    calls: list[str] = []
    text = "a clean answer, nothing to hide here at all"
    out = await collect(hold_back(source(split(text, [3, 9, 20])),
                                  lambda: WindowFilter(8, calls.append)))
    assert text_of(out) == text
    assert calls  # the check saw the text


async def test_tool_calls_are_held_whole_and_filtered() -> None:
    parts = [
        chunk(role="assistant", tools=[ToolCall(index=0, id="t1", type="function",
                                                function=FunctionCall(name="send", arguments=""))]),
        chunk(tools=[ToolCall(index=0, function=FunctionCall(arguments='{"to": "Ali'))]),
        chunk(tools=[ToolCall(index=0, function=FunctionCall(arguments='ce"}'))]),
        chunk(finish="tool_calls"),
    ]
    out = await collect(hold_back(source(parts), lambda: Rename("Alice", "Bob")))
    calls = [tc for c in out for ch in c.choices for tc in (ch.delta.tool_calls or [])]
    assert len(calls) == 1
    assert calls[0].function.arguments == '{"to": "Bob"}'
    assert calls[0].function.name == "send"
    assert calls[0].id == "t1"
    assert calls[0].type == "function"
    assert out[-1].choices[0].finish_reason == "tool_calls"


async def test_usage_passes_and_a_stream_without_finish_is_flushed() -> None:
    usage_chunk = ChatChunk(id="c1", model="m", choices=[], usage=Usage(total_tokens=3))
    parts = [chunk("Ali"), usage_chunk]
    out = await collect(hold_back(source(parts), lambda: Rename("Alice", "Bob")))
    assert text_of(out) == "Ali"
    assert any(c.usage is not None for c in out)


async def test_errors_of_the_stream_itself_pass_unchanged() -> None:
    got: list[ChatChunk] = []
    stream = hold_back(source([chunk("hi")], ProviderStreamBroken()), PassThrough)
    with pytest.raises(ProviderStreamBroken):
        await collect_until_error(stream, got)
    assert all(ch.finish_reason != "content_filter" for c in got for ch in c.choices)


def test_whole_answers_are_filtered() -> None:
    resp = ChatResponse(id="r", model="m", choices=[Choice(message=Message(
        role="assistant", content="Hi Alice", tool_calls=[ToolCall(
            id="t", type="function", function=FunctionCall(name="f", arguments='"Alice"'))]))])
    filter_response(resp, lambda: Rename("Alice", "Bob"))
    assert resp.choices[0].message.content == "Hi Bob"
    assert resp.choices[0].message.tool_calls is not None
    assert resp.choices[0].message.tool_calls[0].function.arguments == '"Bob"'


async def test_apply_covers_both_kinds_of_reply() -> None:
    resp = ChatResponse(id="r", model="m", choices=[Choice(message=Message(
        role="assistant", content="Alice"))])
    assert apply(Reply(response=resp), lambda: Rename("Alice", "Bob")).chat.choices[0] \
        .message.content == "Bob"
    reply = apply(Reply(stream=source(split("Alice", [2]))), lambda: Rename("Alice", "Bob"))
    assert reply.stream is not None
    assert text_of(await collect(reply.stream)) == "Bob"


async def test_a_cut_whole_answer_raises() -> None:
    def refuse(_text: str) -> None:
        raise ContentFiltered()

    resp = ChatResponse(id="r", model="m", choices=[Choice(message=Message(
        role="assistant", content="anything"))])
    with pytest.raises(ContentFiltered):
        filter_response(resp, lambda: WindowFilter(4, refuse))
