"""label ← AI disclosure: tell people that an answer was written by an AI.

Per alias (``models.X.privacy.disclosure``, default ``privacy.disclosure``): the
response header ``x-bastion-ai-generated: true`` (on by default), and an optional
prefix written before the first text of every answer (each choice; streams too),
such as "AI-generated — verify important information. ". It serves the transparency
duties of the EU AI Act (Art. 50: people must be told when they interact with an AI
system, and AI-generated text published to inform the public must be marked) and of
California's BOT Act (a bot must disclose that it is one when it talks to people to
sell or to influence a vote): the header lets an application mark the text in its own
interface, the prefix marks it inside the text itself.

A static fallback message (``x-bastion-degraded: static``) is not AI output and gets
neither. The step sits outside privacy, so the prefix is added to the restored answer
and never enters the cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bastion.config.privacy_settings import Disclosure
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk, ChatResponse

HEADER = "x-bastion-ai-generated"


class Disclose:
    """The step (see the module docstring); ``policies`` maps chat aliases to settings."""

    def __init__(self, policies: dict[str, Disclosure]) -> None:
        self.policies = policies

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        reply = await call_next(ctx)
        d = self.policies.get(ctx.alias)
        if d is None or ctx.kind != "chat" or ctx.decisions.get("degraded") == "static":
            return reply
        if d.header:
            reply.headers[HEADER] = "true"
        if d.prefix:
            prefix = d.prefix
            if reply.stream is not None:
                return reply.map_stream(lambda s: _prefixed(s, prefix))
            if isinstance(reply.response, ChatResponse):
                for choice in reply.response.choices:
                    m = choice.message
                    if isinstance(m.content, str) and m.content:
                        m.content = prefix + m.content
        return reply


async def _prefixed(stream: ChunkStream, prefix: str) -> AsyncIterator[ChatChunk]:
    done: set[int] = set()
    async for chunk in stream:
        for ch in chunk.choices:
            if ch.index not in done and ch.delta.content:
                ch.delta.content = prefix + ch.delta.content
                done.add(ch.index)
        yield chunk
