"""Charging what a provider served when it did not say how much.

The provider's ``usage`` is the truth and settles every request it arrives on.
When it is missing, the request is charged what is known, never $0:

* **prompt**: the count the admit step made (``ctx.state["traffic"]``), else the
  gateway's generous estimate (one token per three bytes of text; the request
  body's size over three when the body is too big to look at on the loop);
* **output**: the text delivered (about four characters a token), or, for a
  whole answer the client did not wait for (nothing at all is known), the output
  allowance: ``max_tokens`` x ``n``, else ``traffic.default_output_tokens``.

``ctx.decisions["usage"]`` says which: ``"estimated"`` (an answer or a stream
without usage, a stream cut short) or ``"allowance"`` (an abandoned whole answer).
The route calls this; the admit step, the usage log and the metrics then all see
the same ``ctx.usage`` and ``ctx.cost_usd``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.core.context import Context
from bastion.core.offload import inline
from bastion.core.types import ChatChunk, ChatRequest, ChatResponse, Usage
from bastion.pricing import cost_usd
from bastion.traffic.gate import STATE, Ticket
from bastion.traffic.tokens import ESTIMATE, count_chat, count_embeddings, method_for

if TYPE_CHECKING:
    from bastion.steps.route import Target

#: ``ctx.state`` key: the target whose provider this request called (last attempt).
UPSTREAM = "upstream"


def text_tokens(chars: int) -> int:
    """Output tokens of ``chars`` characters of answer (about four a token)."""
    return (chars + 3) // 4


def response_chars(resp: ChatResponse) -> int:
    n = 0
    for ch in resp.choices:
        m = ch.message
        n += len(m.text() or "")
        for tc in m.tool_calls or ():
            n += len(tc.function.arguments or "") + len(tc.function.name or "")
    return n


def chunk_chars(chunk: ChatChunk) -> int:
    n = 0
    for ch in chunk.choices:
        d = ch.delta
        if d.content:
            n += len(d.content)
        for tc in d.tool_calls or ():
            n += len(tc.function.arguments or "") + len(tc.function.name or "")
    return n


@dataclass(slots=True, frozen=True)
class Unreported:
    """Configured once (the default output allowance); holds no per-request state."""

    default_output_tokens: int = 1024

    def prompt(self, ctx: Context, target: Target) -> int:
        if ctx.usage is not None and ctx.usage.prompt_tokens:
            return ctx.usage.prompt_tokens
        ticket = ctx.state.get(STATE)
        if isinstance(ticket, Ticket) and ticket.counts:
            return ticket.counts.get(method_for(target.model), max(ticket.counts.values()))
        if not inline(ctx.body_bytes):
            return ctx.body_bytes // 3  # an upper bound that costs nothing to compute
        req = ctx.request
        if isinstance(req, ChatRequest):
            return count_chat(req, ESTIMATE)
        return count_embeddings(req, ESTIMATE)

    def allowance(self, ctx: Context) -> int:
        ticket = ctx.state.get(STATE)
        if isinstance(ticket, Ticket):
            return ticket.out
        req = ctx.request
        if not isinstance(req, ChatRequest):
            return 0
        return (req.output_limit() or self.default_output_tokens) * (req.n or 1)

    def charge(self, ctx: Context, target: Target, completion_tokens: int, how: str) -> None:
        """Charge the prompt and ``completion_tokens`` at ``target``'s price."""
        pt = self.prompt(ctx, target)
        ctx.usage = Usage(prompt_tokens=pt, completion_tokens=completion_tokens,
                          total_tokens=pt + completion_tokens)
        ctx.cost_usd = cost_usd(target.price, pt, completion_tokens)
        ctx.decisions["usage"] = how

    def abandoned(self, ctx: Context, target: Target, stream: bool) -> None:
        """The client left (or the server cut) while a call was in flight: a stream is
        charged its prompt (no words were delivered yet), a whole answer its allowance."""
        if ctx.usage is None:
            if stream:
                self.charge(ctx, target, 0, "estimated")
            else:
                self.charge(ctx, target, self.allowance(ctx), "allowance")

    def stream_ended(self, ctx: Context, target: Target, chars: int, complete: bool) -> None:
        """A stream ended: without usage it is charged the text delivered; cut short
        after a provider counted only the prompt, the delivered text is added."""
        usage = ctx.usage
        short = not complete and usage is not None and usage.completion_tokens < text_tokens(chars)
        if usage is None or short:
            self.charge(ctx, target, text_tokens(chars), "estimated")
