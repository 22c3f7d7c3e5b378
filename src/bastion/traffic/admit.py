"""admit → client limits and budgets, provider capacity;  ← settle on the real usage.

On the way down it counts the prompt (:mod:`bastion.traffic.tokens`), then
reserves, in one atomic step, everything the request may cost its key, user
and team: one request against each ``rpm``, prompt + allowed output against
each ``tpm`` and token quota, and the worst-case cost (prompt x the highest
input price among the alias's targets + allowed output x the highest output
price) against each budget. When a budget applies and the request sets no output
limit, the reserved allowance (``default_output_tokens``) becomes its
``max_completion_tokens`` upstream, so the provider cannot bill more output than was
reserved and spend stays within the budget but for one request's worth of
miscounted prompt. A refusal is 429 ``rate_limit_exceeded`` with
``Retry-After``, or ``budget_exceeded``. Provider capacity is reserved per
attempt by the route step through :class:`~bastion.traffic.gate.CapacityGate`
(or here, on the primary target, when the route does not call the gate).

On the way back it settles every reservation with the real ``ctx.usage`` and
``ctx.cost_usd``: at once for a whole answer or a refusal, and for a stream
when the stream ends, however it ends. When the provider did not report usage
(a client that left, a stream cut short, an answer without ``usage``) the route
has already charged what is known (:mod:`bastion.steps.billing`), so the usage
log and the budget agree.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from bastion.core.context import ChunkStream, Context, Identity, Reply
from bastion.core.errors import BudgetExceeded, RateLimited
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk, ChatRequest
from bastion.traffic.alerts import BudgetAlerts
from bastion.traffic.clients import ClientPlan
from bastion.traffic.gate import STATE, CapacityGate, Ticket, usage_amounts
from bastion.traffic.headers import ratelimit_headers
from bastion.traffic.ledger import CONCURRENT, NANO, Charge
from bastion.traffic.shared import Reservation, SharedLedger
from bastion.traffic.tokens import TokenCounter, method_for

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.steps.route import Target


@dataclass(slots=True, frozen=True)
class AliasPlan:
    """What the admit step precomputes per alias."""

    primary: str
    methods: tuple[str, ...]
    in_nano_per_token: float  # highest input price among the targets, nano-USD a token
    out_nano_per_token: float
    queue_timeout_s: float
    default_out: int
    targets: dict[str, Target]
    limited: bool  # whether any target has provider capacity limits


def _refusal(c: Charge, v_retry: float | None, window_s: float) -> Exception:
    who = {"key": "This API key", "user": "This key's user", "caller": "This user",
           "team": "This key's team"}.get(c.label.split(" ", 1)[0], "This key")
    if c.unit == CONCURRENT:
        return RateLimited(f"{who} already has {c.limit} requests in progress, its limit. "
                           "Please retry when one has finished.", retry_after_s=1.0)
    if c.windowed:
        what = "requests" if c.unit == "requests" else "tokens"
        if v_retry is None:
            return RateLimited(
                f"This request needs {c.amount} tokens, more than the {c.limit} tokens per "
                f"{window_s:g} s {who.lower()} may use. Lower max_tokens or shorten the prompt.",
                retry_after_s=window_s)
        return RateLimited(
            f"{who} is over its limit of {c.limit} {what} per {window_s:g} s. "
            f"Please retry in {max(1, math.ceil(v_retry))} s.", retry_after_s=v_retry)
    if c.unit == "nano_usd":
        spent = "has used up its budget" if c.amount <= c.limit else \
            "has a budget too small for this request"
        msg = f"{who} {spent} (requests still running count until they finish)."
    else:
        msg = f"{who} has used up its {c.label.split(' ', 1)[1]}."
    retry = c.ttl_ms / 1000 - 3600 if c.ttl_ms else None
    return BudgetExceeded(msg, retry_after_s=retry if retry and retry > 0 else None)


class Admit:
    """The admit step (see the module docstring)."""

    def __init__(self, gw: Gateway, plan: ClientPlan, ledger: SharedLedger, gate: CapacityGate,
                 counter: TokenCounter, alerts: BudgetAlerts, gate_in_route: bool) -> None:
        self.gw = gw
        self.plan = plan
        self.ledger = ledger
        self.gate = gate
        self.counter = counter
        self.alerts = alerts
        self.gate_in_route = gate_in_route
        self.window_s = plan.s.window_s
        self.hold_s = plan.s.hold_s
        self._rids = itertools.count()
        self._rid_prefix = os.urandom(6).hex()
        self.aliases: dict[str, AliasPlan] = {}
        for name, route in gw.route.aliases.items():
            a = gw.settings.models[name]
            ts = route.targets
            self.aliases[name] = AliasPlan(
                primary=ts[0].name,
                methods=tuple(sorted({method_for(t.model) for t in ts})),
                in_nano_per_token=max(t.price.input_per_mtok for t in ts) * 1000,
                out_nano_per_token=max(t.price.output_per_mtok for t in ts) * 1000,
                queue_timeout_s=a.traffic.queue_timeout_ms / 1000,
                default_out=a.traffic.default_output_tokens or plan.s.default_output_tokens,
                targets={t.name: t for t in ts},
                limited=any(gate.limited(t.name) for t in ts),
            )

    def methods(self) -> set[str]:
        return {m for a in self.aliases.values() for m in a.methods}

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = ctx.identity
        ap = self.aliases.get(ctx.alias)
        if ap is None or ident is None:
            return await call_next(ctx)
        if not ap.limited and not self.plan.has_limits(ident):
            return await call_next(ctx)  # nothing to count or reserve: no tokenising
        req = ctx.request
        counts = await self.counter.count(ctx, ap.methods)
        prompt = max(counts.values())
        out = 0
        if isinstance(req, ChatRequest):
            out = (req.output_limit() or ap.default_out) * (req.n or 1)
        ticket = Ticket(f"{self._rid_prefix}{next(self._rids):x}", counts, out,
                        self.plan.priority(ident), ap.queue_timeout_s)
        ctx.state[STATE] = ticket
        worst = math.ceil(prompt * ap.in_nano_per_token + out * ap.out_nano_per_token)
        charges = self.plan.charges(ident, prompt + out, worst)
        if isinstance(req, ChatRequest) and req.output_limit() is None and any(
                c.unit == "nano_usd" for c in charges):
            # The reserved allowance is the request's limit upstream too: without it a
            # provider may write (and bill) far more than the budget reserved.
            ctx.request = msgspec.structs.replace(req, max_completion_tokens=ap.default_out)
            ctx.decisions["output_limit"] = ap.default_out
        if charges:
            ticket.client = await self._reserve(ctx, ident, ticket, charges)
        gate: AbstractAsyncContextManager[None] = nullcontext()
        if not self.gate_in_route and self.gate.limited(ap.primary):
            gate = self.gate.admit(ctx, ap.primary)
        try:
            async with gate:
                reply = await call_next(ctx)
        except BaseException:
            self._finish(ctx, ticket)
            raise
        if reply.stream is None:
            self._finish(ctx, ticket)
            return reply
        return reply.map_stream(lambda s: self._watch(ctx, ticket, s))

    async def _reserve(self, ctx: Context, ident: Identity, ticket: Ticket,
                       charges: list[Charge]) -> Reservation:
        res = await self.ledger.reserve(charges, ticket.rid, self.hold_s)
        v = res.verdict
        if v.need_seed:
            c = charges[v.failed]
            assert c.seed_key_id is not None
            totals = await self.gw.db.usage_totals(c.seed_key_id)
            await self.ledger.seed(c, math.ceil(totals.spend_usd * NANO))
            res = await self.ledger.reserve(charges, ticket.rid, self.hold_s)
            v = res.verdict
        if not v.ok:
            if v.need_seed:  # the seed did not land (Redis went away): refuse, don't guess
                raise BudgetExceeded("This key's budget cannot be checked right now.",
                                     retry_after_s=5.0)
            c = charges[v.failed]
            ctx.decisions["refused_by"] = c.label
            raise _refusal(c, v.retry_after_s, self.window_s)
        # The verdict lines up with the charges asked for (SharedLedger expands it when
        # rate limits were left uncounted while Redis is down), not with res.charges.
        ctx.response_headers.update(ratelimit_headers(charges, v))
        return res

    def _finish(self, ctx: Context, ticket: Ticket) -> None:
        """Settle the client reservation and deferred capacity leases with the real usage."""
        prompt = max(ticket.counts.values())
        amounts = usage_amounts(ctx, 0)
        if ticket.client is not None:
            real = {"tokens": amounts["tokens"], "nano_usd": math.ceil(ctx.cost_usd * NANO),
                    CONCURRENT: 0}
            self.ledger.settle_soon(ticket.client, real, self.alerts)
            ticket.client = None
        for queue, res in ticket.deferred:
            self.gate.settle(queue, res, usage_amounts(ctx, prompt) if ctx.usage else {})
        ticket.deferred.clear()

    async def _watch(self, ctx: Context, ticket: Ticket, stream: ChunkStream
                     ) -> AsyncIterator[ChatChunk]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            self._finish(ctx, ticket)
