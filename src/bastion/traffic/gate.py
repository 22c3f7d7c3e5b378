"""``CapacityGate``: keep the gateway's own traffic under each provider's limits.

The route step calls it once per attempt, around the upstream call, so the
capacity is counted against the target actually tried (the primary first, a
fallback only when the route falls back to it)::

    async with gateway.capacity.admit(ctx, target.name):
        reply = await attempt(...)

``admit`` reserves the request and its tokens (prompt + allowed output) on the
target's counters, waiting in the target's :class:`CapacityQueue` when there is
no room, until the alias's ``traffic.queue_timeout_ms`` or the request's
deadline (then 429 ``rate_limit_exceeded`` with ``Retry-After``); at once when the
route asks it not to wait (``routing.SPILL_STATE``: it tries the next target). When the
block ends the reservation is settled: with the real ``usage`` for a whole
answer, with the prompt alone for a failed attempt, and, for a stream, when
the stream ends (the admit step settles what the :class:`Ticket` defers).
Targets without limits pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bastion.core.context import Context
from bastion.core.types import ChatRequest
from bastion.observe.metrics import Metrics
from bastion.routing.base import SPILL_STATE
from bastion.traffic.ledger import Charge
from bastion.traffic.queue import CapacityQueue
from bastion.traffic.shared import Reservation, SharedLedger
from bastion.traffic.tiers import UNITS, Capacity
from bastion.traffic.tokens import TokenCounter, method_for

STATE = "traffic"


@dataclass(slots=True)
class Ticket:
    """The admit step's per-request record, kept in ``ctx.state["traffic"]``."""

    rid: str
    counts: dict[str, int]  # counting method -> prompt tokens
    out: int  # output tokens allowed (max_tokens x n, or the default allowance)
    priority: int = 0
    queue_timeout_s: float = 30.0
    client: Reservation | None = None
    deferred: list[tuple[CapacityQueue, Reservation]] = field(default_factory=list)
    attempts: int = 0


@dataclass(slots=True, frozen=True)
class _Counter:
    key: str
    limit: int
    unit: str
    window_ms: int
    label: str


def usage_amounts(ctx: Context, fallback_prompt: int) -> dict[str, int]:
    """Real amounts per unit from ``ctx.usage`` (the prompt alone when there is none)."""
    u = ctx.usage
    if u is None:
        return {"tokens": fallback_prompt, "input": fallback_prompt, "output": 0}
    total = u.total_tokens or (u.prompt_tokens + u.completion_tokens)
    return {"tokens": total, "input": u.prompt_tokens, "output": u.completion_tokens}


class CapacityGate:
    """Provider-capacity admission per target attempt (see the module docstring)."""

    def __init__(self, caps: dict[str, list[Capacity]], ledger: SharedLedger, metrics: Metrics,
                 counter: TokenCounter, window_s: float, hold_s: float, max_depth: int,
                 poll_s: float, default_output_tokens: int) -> None:
        self.ledger = ledger
        self.counter = counter
        self.hold_s = hold_s
        self.default_output_tokens = default_output_tokens
        self.counters: dict[str, tuple[_Counter, ...]] = {}
        self.queues: dict[str, CapacityQueue] = {}
        for target, scopes in caps.items():
            cs = []
            for scope in scopes:
                for name, limit in scope.limits:
                    unit, win = UNITS[name]
                    cs.append(_Counter(f"{scope.scope}:{name}", limit, unit,
                                       round((win or window_s) * 1000), f"{scope.scope} {name}"))
            self.counters[target] = tuple(cs)
            req_limits = [c.limit for c in cs if c.unit == "requests"]
            self.queues[target] = CapacityQueue(
                target, ledger, metrics, max_depth, poll_s, window_s,
                min(req_limits) if req_limits else None)
        self.methods = {method_for(t.split("/", 1)[1]) for t in self.counters}
        # told of every reservation (routing's headroom learns what is left from it)
        self.on_reserve: Callable[[Reservation], None] | None = None

    def limited(self, target: str) -> bool:
        return target in self.counters

    async def _charges(self, ctx: Context, ticket: Ticket | None,
                       target: str) -> tuple[list[Charge], int]:
        method = method_for(target.split("/", 1)[1])
        if ticket is not None and method in ticket.counts:
            prompt = ticket.counts[method]
        else:
            prompt = (await self.counter.count(ctx, (method,)))[method]
            if ticket is not None:
                ticket.counts[method] = prompt
        if ticket is not None:
            out = ticket.out
        elif isinstance(ctx.request, ChatRequest):
            out = ctx.request.output_limit() or self.default_output_tokens
        else:
            out = 0
        amounts = {"requests": 1, "tokens": prompt + out, "input": prompt, "output": out}
        return [Charge(c.key, c.limit, amounts[c.unit], c.window_ms, label=c.label, unit=c.unit)
                for c in self.counters[target]], prompt

    @asynccontextmanager
    async def admit(self, ctx: Context, target: str) -> AsyncIterator[None]:
        """Hold capacity on ``target`` ("provider/model") for the enclosed attempt."""
        queue = self.queues.get(target)
        if queue is None:
            yield
            return
        ticket = ctx.state.get(STATE)
        assert ticket is None or isinstance(ticket, Ticket)
        charges, prompt = await self._charges(ctx, ticket, target)
        now = time.monotonic()
        timeout = ticket.queue_timeout_s if ticket is not None else 30.0
        deadline = now + timeout
        if ctx.deadline is not None:
            deadline = min(deadline, ctx.deadline)
        if ctx.state.get(SPILL_STATE):  # routing prefers the next target to a wait here
            deadline = now
        rid = f"{ticket.rid}.{ticket.attempts}" if ticket is not None else ctx.request_id
        if ticket is not None:
            ticket.attempts += 1
        res = await queue.acquire(charges, rid, self.hold_s,
                                  ticket.priority if ticket is not None else 0, deadline)
        if self.on_reserve is not None:
            self.on_reserve(res)
        ok = False
        try:
            yield
            ok = True
        finally:
            if ok and ctx.stream and ticket is not None:
                ticket.deferred.append((queue, res))  # settled when the stream ends
            elif ok:
                # no usage reported: keep what was reserved
                self.settle(queue, res, usage_amounts(ctx, prompt) if ctx.usage else {})
            else:  # the provider saw the prompt, produced nothing
                self.settle(queue, res, {"tokens": prompt, "input": prompt, "output": 0})

    def settle(self, queue: CapacityQueue, res: Reservation, real: dict[str, int]) -> None:
        self.ledger.settle_soon(res, real)
        queue.wake.set()

    async def aclose(self) -> None:
        for q in self.queues.values():
            await q.aclose()
