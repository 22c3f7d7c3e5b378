"""Canonical chunks → the Anthropic stream event sequence.

``message_start`` (with usage), then per content block ``content_block_start``,
``content_block_delta`` (``text_delta``, ``input_json_delta``, ``thinking_delta``;
``signature_delta`` and ``citations_delta`` relayed from an Anthropic provider
through the channel) and ``content_block_stop``, then ``message_delta`` (stop reason, usage) and
``message_stop``. The canonical stream gives its finish reason before its usage,
so ``message_delta`` is sent once the canonical stream has ended. A
:class:`GatewayError` raised by the stream ends it with an ``error`` event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from bastion.api.anthropic_translate import message_id
from bastion.api.anthropic_wire import (
    AMessage,
    AnthropicChannel,
    AUsage,
    Block,
    BlockDelta,
    ContentBlockDelta,
    ContentBlockStart,
    ContentBlockStop,
    DeltaUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StopDelta,
    anthropic_error_body,
    anthropic_usage,
    sse_frame,
    stop_reason,
)
from bastion.core.context import ChunkStream
from bastion.core.errors import GatewayError
from bastion.core.types import ChatChunk, ToolCall, Usage

_START = b"message_start"
_BLOCK_START = b"content_block_start"
_BLOCK_DELTA = b"content_block_delta"
_BLOCK_STOP = b"content_block_stop"
_MESSAGE_DELTA = b"message_delta"
_MESSAGE_STOP = b"message_stop"
_MESSAGE_STOP_FRAME = sse_frame(_MESSAGE_STOP, MessageStop())


class _Blocks:
    """Which Anthropic content block is open, and where each tool call went.

    Local to one stream (one instance per response), never shared.
    """

    __slots__ = ("ch", "count", "open_index", "open_kind", "tools")

    def __init__(self, ch: AnthropicChannel | None = None) -> None:
        self.ch = ch
        self.count = 0
        self.open_index = -1
        self.open_kind = ""
        self.tools: dict[int, int] = {}  # canonical tool-call index -> block index

    def close(self, out: list[bytes]) -> None:
        if self.open_kind == "thinking" and self.ch is not None and self.ch.signatures:
            # The provider's signature for this thinking block (noted by the Anthropic
            # adapter before the next block began), so the client can send it back.
            out.append(sse_frame(_BLOCK_DELTA, ContentBlockDelta(index=self.open_index, delta=(
                BlockDelta(type="signature_delta", signature=self.ch.signatures.pop(0))))))
        if self.open_index >= 0:
            out.append(sse_frame(_BLOCK_STOP, ContentBlockStop(index=self.open_index)))
            self.open_index, self.open_kind = -1, ""

    def ensure(self, kind: str, block: Block, out: list[bytes]) -> int:
        """The open block of ``kind`` (``text``/``thinking``), opening one if needed."""
        if self.open_kind != kind:
            self.close(out)
            self.open_index, self.open_kind = self.count, kind
            self.count += 1
            out.append(sse_frame(_BLOCK_START, ContentBlockStart(index=self.open_index,
                                                                 content_block=block)))
        return self.open_index

    def tool(self, tc: ToolCall, out: list[bytes]) -> int:
        """The block of canonical tool call ``tc`` (a new ``tool_use`` block on first sight)."""
        key = tc.index if tc.index is not None else (max(self.tools) if self.tools else 0)
        found = self.tools.get(key)
        if found is not None:
            return found
        self.close(out)
        idx = self.open_index = self.count
        self.open_kind = "tool_use"
        self.count += 1
        self.tools[key] = idx
        block = Block(type="tool_use", id=tc.id or f"toolu_{idx}", name=tc.function.name or "",
                      input={})
        out.append(sse_frame(_BLOCK_START, ContentBlockStart(index=idx, content_block=block)))
        return idx


def _frames(chunk: ChatChunk, blocks: _Blocks, out: list[bytes]) -> str | None:
    """Frames for one chunk's first choice; returns its finish reason, if any."""
    finish = None
    for choice in chunk.choices:
        if choice.index != 0:
            continue
        d = choice.delta
        if d.reasoning_content:
            i = blocks.ensure("thinking", Block(type="thinking", thinking="", signature=""), out)
            out.append(sse_frame(_BLOCK_DELTA, ContentBlockDelta(
                index=i, delta=BlockDelta(type="thinking_delta", thinking=d.reasoning_content))))
        text = d.content or d.refusal
        if text:
            i = blocks.ensure("text", Block(type="text", text=""), out)
            ch = blocks.ch
            while ch is not None and ch.citations:  # the provider's, before the text they cite
                out.append(sse_frame(_BLOCK_DELTA, ContentBlockDelta(index=i, delta=BlockDelta(
                    type="citations_delta", citation=ch.citations.pop(0)))))
            out.append(sse_frame(_BLOCK_DELTA, ContentBlockDelta(
                index=i, delta=BlockDelta(type="text_delta", text=text))))
        for tc in d.tool_calls or ():
            i = blocks.tool(tc, out)
            if tc.function.arguments:
                out.append(sse_frame(_BLOCK_DELTA, ContentBlockDelta(
                    index=i, delta=BlockDelta(type="input_json_delta",
                                              partial_json=tc.function.arguments))))
        if choice.finish_reason:
            finish = choice.finish_reason
    return finish


def _start_frame(chunk: ChatChunk, alias: str, ch: AnthropicChannel) -> bytes:
    usage = AUsage(input_tokens=ch.input_tokens or 0)
    if chunk.usage is not None:
        usage = anthropic_usage(chunk.usage)
    return sse_frame(_START, MessageStart(message=AMessage(
        id=message_id(chunk.id), model=alias, usage=usage)))


def _end_frames(finish: str | None, usage: Usage | None, ch: AnthropicChannel) -> list[bytes]:
    reason = stop_reason(finish, ch)
    au = anthropic_usage(usage)
    du = DeltaUsage(output_tokens=au.output_tokens)
    if usage is not None:
        du.input_tokens = au.input_tokens
        du.cache_read_input_tokens = au.cache_read_input_tokens
        du.cache_creation_input_tokens = au.cache_creation_input_tokens
    stop = StopDelta(stop_reason=reason,
                     stop_sequence=ch.stop_sequence if reason == "stop_sequence" else None)
    return [sse_frame(_MESSAGE_DELTA, MessageDelta(delta=stop, usage=du)), _MESSAGE_STOP_FRAME]


async def anthropic_sse(stream: ChunkStream, alias: str,
                        ch: AnthropicChannel) -> AsyncIterator[bytes]:
    """The Anthropic SSE frames for a canonical stream (see the module docstring)."""
    blocks = _Blocks(ch)
    started = False
    finish: str | None = None
    usage: Usage | None = None
    out: list[bytes] = []
    async with aclosing(stream):  # type: ignore[type-var]  # a client that left closes it all
        try:
            async for chunk in stream:
                if not started:
                    started = True
                    yield _start_frame(chunk, alias, ch)
                if chunk.usage is not None:
                    usage = chunk.usage
                finish = _frames(chunk, blocks, out) or finish
                if out:
                    yield b"".join(out)
                    out.clear()
        except GatewayError as e:
            yield sse_frame(b"error", anthropic_error_body(e))
            return
    if not started:
        yield sse_frame(_START, MessageStart(message=AMessage(id=message_id(""), model=alias)))
    blocks.close(out)
    out.extend(_end_frames(finish, usage, ch))
    yield b"".join(out)
