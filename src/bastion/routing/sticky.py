"""Sticky routing: the same user, or the same conversation, goes to the same target.

Providers cache prompt prefixes per deployment (OpenAI and Anthropic bill cached
input tokens at a fraction of the price); a conversation spread over several
deployments pays full price on each. A request's sticky key is:

* ``user``: the caller's user (the key's or token's user, else the request's
  ``user`` field, else the key itself);
* ``conversation``: the client's ``prompt_cache_key`` when it sends one, else a hash
  of the conversation's start, its system/developer messages and first user message
  (each cut at :data:`HEAD_CHARS`: prompt caches match prefixes, and the start of a
  conversation does not change as it grows).

Targets are ranked for a key by weighted rendezvous hashing: each target scores
``weight / -ln(u)`` with ``u`` a hash of (key, target) in (0, 1), best first. No
state, nothing stored, the same ranking on every replica; each target gets its
weight's share of keys; when a target leaves (its breaker opens: the route skips it),
only its keys move, each to its own second choice, and they come back when it
recovers. A request without a key is ranked by the alias's strategy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from bastion.core.types import ChatRequest, Message
from bastion.routing.base import Ranked, Strategy, only

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.steps.route import Target

HEAD_CHARS = 2048
_MASK = (1 << 64) - 1
_TWO64 = float(1 << 64)

KeyFn = Callable[["Context"], "int | None"]


def digest64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix(x: int) -> int:
    """SplitMix64's finaliser: one 64-bit value to a well-spread other."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _head(m: Message) -> str:
    c = m.content
    if isinstance(c, str) or c is None:
        return (c or "")[:HEAD_CHARS]
    out: list[str] = []
    size = 0
    for p in c:
        if p.get("type") == "text":
            t = str(p.get("text", ""))[:HEAD_CHARS - size]
            out.append(t)
            size += len(t)
            if size >= HEAD_CHARS:
                break
    return "\n".join(out)


def conversation_key(ctx: Context) -> int | None:
    req = ctx.request
    if not isinstance(req, ChatRequest):
        return None
    if req.prompt_cache_key:
        return digest64(req.prompt_cache_key)
    parts: list[str] = []
    for m in req.messages:
        parts.append(_head(m))
        if m.role == "user":
            break
    return digest64("\x1f".join(parts)) if parts else None


def user_key(ctx: Context) -> int | None:
    ident = ctx.identity
    who = ident.user if ident is not None else None
    if not who:
        who = ctx.request.user
    if not who and ident is not None:
        who = "key:" + ident.key_id
    return digest64(who) if who else None


KEYS: dict[str, KeyFn] = {"user": user_key, "conversation": conversation_key}


def rendezvous(key: int, targets: Sequence[Target], weights: Mapping[str, float],
               seeds: Mapping[str, int]) -> list[Target]:
    """``targets`` ranked for ``key`` (see the module docstring)."""
    scores: list[float] = []
    for t in targets:
        w = weights[t.name]
        u = (_mix(key ^ seeds[t.name]) + 0.5) / _TWO64
        scores.append(w / -math.log(u) if w > 0 else 0.0)
    order = sorted(range(len(targets)), key=scores.__getitem__, reverse=True)
    return [targets[i] for i in order]


class Sticky:
    """Wraps a strategy: requests with a sticky key are ranked by :func:`rendezvous`."""

    def __init__(self, inner: Strategy, mode: str, weights: Mapping[str, float]) -> None:
        self.inner = inner
        self.name = inner.name
        self.spill = inner.spill
        self.key = KEYS[mode]
        self.why = "sticky " + mode
        self.weights = dict(weights)
        self.seeds = {n: digest64(n) for n in weights}

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        if (one := only(targets)) is not None:
            return one
        key = self.key(ctx)
        if key is None:
            return await self.inner.rank(ctx, targets)
        return Ranked(rendezvous(key, targets, self.weights, self.seeds), self.why)
