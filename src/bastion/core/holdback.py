"""Held-back text: judge or rewrite an answer's text before the client sees it.

Output moderation, pseudonym restoration and review holds all need the same thing
from a streamed answer: text reaches the client only once what follows it has been
looked at (a leaked secret or a stand-in name can be split across chunks), the rest
is flushed when the answer finishes, and a verdict can cut the stream cleanly. This
module is the one place that does that; steps wrap :attr:`Reply.stream` with
:func:`hold_back` (or call :func:`apply`) and never buffer on their own.

A :class:`TextFilter` works on one choice of one answer (steps create one per choice
through a factory, so they keep no per-request state on ``self``)::

    process(text, final) -> (release, keep)

``text`` is what the filter kept last time plus the text that just arrived;
``release`` is what the client may see now (the filter may rewrite it) and ``keep``
the unjudged tail that must wait for more text. With ``final=True`` no more text
will come and ``keep`` must be empty. Whole tool calls go through
``tool_call(name, arguments) -> arguments`` once complete (their argument fragments
are held until the choice finishes). Raising a :class:`GatewayError` (usually
:class:`ContentFiltered`) cuts the answer: on a stream, a last chunk with
``finish_reason="content_filter"`` is sent for that choice and the error ends the
stream with an error event in the client's dialect; on a whole answer the error
propagates to the step, which decides.

Text and tool-call deltas are held; everything else in a chunk (role, logprobs,
usage, finish reasons) passes in order, and held text is always released before
the chunk that finishes its choice. Per-chunk cost is a dict lookup and the
filter's own work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bastion.core.context import MORE_COMING, ChunkStream, Reply
from bastion.core.errors import GatewayError
from bastion.core.types import (
    ChatChunk,
    ChatResponse,
    ChunkChoice,
    Delta,
    FunctionCall,
    ToolCall,
)


class TextFilter(Protocol):
    """Judges or rewrites the text of one choice (see the module docstring)."""

    def process(self, text: str, final: bool) -> tuple[str, str]: ...

    def tool_call(self, name: str, arguments: str) -> str: ...


FilterFactory = Callable[[], TextFilter]


class PassThrough:
    """A filter that changes nothing; subclass it and override what you need."""

    def process(self, text: str, final: bool) -> tuple[str, str]:
        return text, ""

    def tool_call(self, name: str, arguments: str) -> str:
        return arguments


class WindowFilter(PassThrough):
    """Releases text only once ``window`` characters after it were checked with it.

    ``check(text)`` sees the last ``window`` released characters (context for a match
    that straddles the boundary) followed by every held character; it raises a
    :class:`GatewayError` to cut. A pattern up to ``window`` characters long is thus
    always seen whole before any of it is released. Override :meth:`check` or pass it.
    """

    def __init__(self, window: int, check: Callable[[str], None] | None = None) -> None:
        self.window = window
        self._check = check
        self._tail = ""

    def check(self, text: str) -> None:
        if self._check is not None:
            self._check(text)

    def process(self, text: str, final: bool) -> tuple[str, str]:
        if not text:
            return "", ""
        self.check(self._tail + text)
        cut = len(text) if final else max(0, len(text) - self.window)
        release = text[:cut]
        if release:
            self._tail = (self._tail + release)[-self.window:]
        return release, text[cut:]


@dataclass(slots=True)
class _ToolAcc:
    id: str | None = None
    type: str | None = None
    name: str = ""
    args: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _ChoiceState:
    filter: TextFilter
    keep: str = ""
    tools: dict[int, _ToolAcc] = field(default_factory=dict)


def _flush(st: _ChoiceState) -> tuple[str, list[ToolCall] | None]:
    """The choice's remaining text and its completed tool calls, through the filter."""
    release, keep = st.filter.process(st.keep, True)
    st.keep = ""
    if keep:  # a filter that keeps text at the end breaks its contract: never drop text
        release += keep
    calls = None
    if st.tools:
        calls = []
        for idx in sorted(st.tools):
            t = st.tools[idx]
            args = st.filter.tool_call(t.name, "".join(t.args))
            calls.append(ToolCall(id=t.id, type=t.type or "function", index=idx,
                                  function=FunctionCall(name=t.name, arguments=args)))
        st.tools.clear()
    return release, calls


def _hold_tools(st: _ChoiceState, calls: list[ToolCall]) -> None:
    for tc in calls:
        idx = tc.index if tc.index is not None else (max(st.tools) if st.tools else 0)
        acc = st.tools.get(idx)
        if acc is None:
            acc = st.tools[idx] = _ToolAcc()
        if tc.id:
            acc.id = tc.id
        if tc.type:
            acc.type = tc.type
        if tc.function.name:
            acc.name += tc.function.name
        if tc.function.arguments:
            acc.args.append(tc.function.arguments)


def _like(chunk: ChatChunk, choices: list[ChunkChoice]) -> ChatChunk:
    return ChatChunk(id=chunk.id, model=chunk.model, choices=choices, created=chunk.created,
                     system_fingerprint=chunk.system_fingerprint)


def _step(states: dict[int, _ChoiceState], chunk: ChatChunk,
          make_filter: FilterFactory) -> list[ChatChunk]:
    """What the client gets for ``chunk``: zero, one or two chunks."""
    out: list[ChatChunk] = []
    flushed: list[ChunkChoice] = []
    kept: list[ChunkChoice] = []
    for ch in chunk.choices:
        st = states.get(ch.index)
        if st is None:
            st = states[ch.index] = _ChoiceState(make_filter())
        d = ch.delta
        if d.content:
            release, st.keep = st.filter.process(st.keep + d.content, False)
            d.content = release or None
        if d.tool_calls:
            _hold_tools(st, d.tool_calls)
            d.tool_calls = None
        if ch.finish_reason is not None:
            text, calls = _flush(st)
            if d.content:  # released from this very chunk: it precedes the flushed tail
                text, d.content = d.content + text, None
            if text or calls:
                flushed.append(ChunkChoice(index=ch.index, delta=Delta(
                    content=text or None, tool_calls=calls)))
        if (d.content or d.role or d.refusal or d.reasoning_content or d.function_call
                or ch.finish_reason is not None or ch.logprobs is not None):
            kept.append(ch)
    if flushed:
        # Held text goes out before the chunk that finishes its choice; text of other
        # choices in the same chunk goes out before that.
        ongoing = [c for c in kept if c.finish_reason is None]
        if ongoing:
            out.append(_like(chunk, ongoing))
            kept = [c for c in kept if c.finish_reason is not None]
        out.append(_like(chunk, flushed))
    if kept or chunk.usage is not None:
        chunk.choices = kept
        out.append(chunk)
    return out


def _cut(states: dict[int, _ChoiceState], last: ChatChunk | None) -> ChatChunk | None:
    if last is None:
        return None
    return _like(last, [ChunkChoice(index=i, finish_reason="content_filter")
                        for i in (sorted(states) or [0])])


async def hold_back(stream: ChunkStream, make_filter: FilterFactory) -> ChunkStream:
    """``stream`` with every choice's text and tool calls passed through its own filter.

    A filter's :class:`GatewayError` ends the stream after a ``content_filter`` chunk;
    errors of the stream itself (a broken provider stream) pass through unchanged.
    """
    states: dict[int, _ChoiceState] = {}
    last: ChatChunk | None = None
    async for chunk in stream:
        last = chunk
        try:
            out = _step(states, chunk, make_filter)
        except GatewayError:
            cut = _cut(states, last)
            if cut is not None:
                yield cut
            raise
        if out:
            # The source's "more is coming" hint may be about chunks the filters will
            # swallow whole; a writer that waited for them would sit on released text.
            MORE_COMING.set(False)
        for c in out:
            yield c
    # A stream that ended without a finish reason: release what is held anyway.
    tail: list[ChunkChoice] = []
    try:
        for idx, st in states.items():
            text, calls = _flush(st)
            if text or calls:
                tail.append(ChunkChoice(index=idx, delta=Delta(content=text or None,
                                                               tool_calls=calls)))
    except GatewayError:
        cut = _cut(states, last)
        if cut is not None:
            yield cut
        raise
    if tail and last is not None:
        yield _like(last, tail)


def filter_response(resp: ChatResponse, make_filter: FilterFactory) -> ChatResponse:
    """A whole answer's text and tool calls through one filter per choice (in place).

    A :class:`GatewayError` from a filter propagates: the calling step decides.
    """
    for choice in resp.choices:
        f = make_filter()
        msg = choice.message
        if isinstance(msg.content, str) and msg.content:
            release, keep = f.process(msg.content, True)
            msg.content = release + keep
        if msg.tool_calls:
            for tc in msg.tool_calls:
                tc.function.arguments = f.tool_call(tc.function.name or "",
                                                    tc.function.arguments or "")
    return resp


def apply(reply: Reply, make_filter: FilterFactory) -> Reply:
    """Filter ``reply``: its stream through :func:`hold_back`, or its whole chat answer."""
    if reply.stream is not None:
        return reply.map_stream(lambda s: hold_back(s, make_filter))
    if isinstance(reply.response, ChatResponse):
        filter_response(reply.response, make_filter)
    return reply
