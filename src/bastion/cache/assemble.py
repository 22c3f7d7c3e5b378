"""Rebuilding a whole answer from the stream chunks that pass by, to cache a stream.

Only text is kept (strings, not the chunk objects), so steps further out may change
the chunks after they pass. The result exists only when every choice ended with a
finish reason; past ``max_bytes`` the assembler gives up (the answer is not cached).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.core.types import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)


@dataclass(slots=True)
class _ToolParts:
    id: str | None = None
    type: str = "function"
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _ChoiceParts:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tools: dict[int, _ToolParts] = field(default_factory=dict)
    finish_reason: str | None = None
    logprobs: list[object] = field(default_factory=list)


class StreamAssembler:
    """Feed every chunk to :meth:`add`; :meth:`result` is the whole answer or ``None``."""

    __slots__ = ("_choices", "_first", "_size", "_usage", "max_bytes", "overflow")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.overflow = False
        self._first: ChatChunk | None = None
        self._choices: dict[int, _ChoiceParts] = {}
        self._usage: Usage | None = None
        self._size = 0

    def add(self, chunk: ChatChunk) -> None:
        if self.overflow:
            return
        if self._first is None:
            self._first = chunk
        if chunk.usage is not None:
            self._usage = Usage(prompt_tokens=chunk.usage.prompt_tokens,
                                completion_tokens=chunk.usage.completion_tokens,
                                total_tokens=chunk.usage.total_tokens)
        for c in chunk.choices:
            parts = self._choices.get(c.index)
            if parts is None:
                parts = self._choices[c.index] = _ChoiceParts()
            self._delta(parts, c)
        if self._size > self.max_bytes:
            self.overflow = True
            self._choices.clear()

    def _delta(self, parts: _ChoiceParts, c: ChunkChoice) -> None:
        d = c.delta
        if d.role:
            parts.role = d.role
        if d.content:
            parts.content.append(d.content)
            self._size += len(d.content)
        if d.refusal:
            parts.refusal.append(d.refusal)
        for tc in d.tool_calls or ():
            self._tool(parts, tc)
        if c.finish_reason is not None:
            parts.finish_reason = c.finish_reason
        if c.logprobs and isinstance(c.logprobs.get("content"), list):
            parts.logprobs.extend(c.logprobs["content"])
            self._size += 64 * len(c.logprobs["content"])

    def _tool(self, parts: _ChoiceParts, tc: ToolCall) -> None:
        i = tc.index if tc.index is not None else len(parts.tools)
        t = parts.tools.get(i)
        if t is None:
            t = parts.tools[i] = _ToolParts()
        if tc.id:
            t.id = tc.id
        if tc.type:
            t.type = tc.type
        if tc.function.name:
            t.name = tc.function.name
        if tc.function.arguments:
            t.arguments.append(tc.function.arguments)
            self._size += len(tc.function.arguments)

    def result(self) -> ChatResponse | None:
        """The assembled answer, or ``None`` if it was cut, too big, or never finished."""
        first = self._first
        if first is None or self.overflow or not self._choices:
            return None
        choices = []
        for index in sorted(self._choices):
            p = self._choices[index]
            if p.finish_reason is None:
                return None
            tools = [ToolCall(id=t.id, type=t.type, function=FunctionCall(
                name=t.name, arguments="".join(t.arguments))) for _, t in sorted(p.tools.items())]
            msg = Message(role=p.role, content="".join(p.content) if p.content or not tools
                          else None, tool_calls=tools or None,
                          refusal="".join(p.refusal) or None)
            choices.append(Choice(index=index, message=msg, finish_reason=p.finish_reason,
                                  logprobs={"content": p.logprobs} if p.logprobs else None))
        return ChatResponse(id=first.id, model=first.model, created=first.created,
                            choices=choices, usage=self._usage,
                            system_fingerprint=first.system_fingerprint)
