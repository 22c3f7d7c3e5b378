"""Replaying a whole response as a proper stream (degraded and cached answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bastion.core.types import ChatChunk, ChatResponse, ChunkChoice, Delta, ToolCall, Usage

_PIECE = 64


async def replay_as_stream(resp: ChatResponse) -> AsyncIterator[ChatChunk]:
    """Chunks a client would have seen had ``resp`` been streamed: role, text pieces,
    tool calls, finish reason, then usage."""

    def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(id=resp.id, model=resp.model, created=resp.created, choices=choices,
                         usage=usage, system_fingerprint=resp.system_fingerprint)

    for choice in resp.choices:
        i = choice.index
        msg = choice.message
        yield chunk([ChunkChoice(index=i, delta=Delta(role=msg.role,
                                                                         content=""))])
        text = msg.text()
        for start in range(0, len(text), _PIECE):
            yield chunk([ChunkChoice(
                index=i, delta=Delta(content=text[start:start + _PIECE]))])
        if msg.tool_calls:
            calls = [ToolCall(index=n, id=t.id, type=t.type, function=t.function)
                     for n, t in enumerate(msg.tool_calls)]
            yield chunk([ChunkChoice(index=i, delta=Delta(tool_calls=calls))])
        yield chunk([ChunkChoice(index=i, finish_reason=choice.finish_reason,
                                                     logprobs=choice.logprobs)])
    if resp.usage is not None:
        yield chunk([], resp.usage)
