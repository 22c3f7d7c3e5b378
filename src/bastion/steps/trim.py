"""trim →: a conversation over its alias's prompt token budget loses its oldest turns.

For an alias with ``context.max_prompt_tokens`` (``docs/cost-routing.md``): the
prompt is counted the way the alias's targets count it and, when over the budget, its
oldest whole turns are dropped (:mod:`bastion.cost.trim`: never a system message,
never the last user turn, never a tool call apart from its result) or, with
``summarize_with``, replaced by one summary written by that alias (its call goes
through the route with the caller's identity; its cost is added to the request's, so
budgets and the usage log count it; when it fails, the turns are dropped instead).
When a system prompt alone is over ``system_warn_share`` of the budget, the metric
``bastion_context_system_prompt_over_share`` counts it and a
``context_system_prompt_large`` warning is logged (at most once a minute per alias).

It sits after the guards (they judge the whole conversation; a summary is written
from text they have already seen and changed) and before the cache (which keys the
request as it will be sent). The admit step counted the untrimmed prompt: its client
reservation is settled on the real usage, and the provider-capacity counts (taken per
attempt by the route) are lowered here to the trimmed prompt. A request whose text
clearly fits (its body's size bounds its tokens) is not counted at all.

Recorded in ``ctx.decisions["trim"]``: the budget, the prompt tokens before and
after, the messages dropped, the mode (``dropped``, ``summarized``, ``over_budget``)
and the summary's alias, target, tokens and cost; never any text.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec

from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import GatewayError
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk, ChatRequest, ChatResponse, Message
from bastion.cost.metrics import CostMetrics
from bastion.cost.summary import summary_message, summary_request
from bastion.cost.trim import TrimPlan, plan
from bastion.observe.logging import get_logger
from bastion.traffic.gate import STATE as TRAFFIC_STATE
from bastion.traffic.gate import Ticket
from bastion.traffic.tokens import ESTIMATE, request_work

WARN_INTERVAL_S = 60.0
_SLACK_PER_ITEM = 16  # tokens a message or tool may add beyond its bytes (roles, framing)


def _log() -> Any:
    """A logger per event (events here are rare and rate-limited), so a reconfigured
    structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.context")


@dataclass(slots=True, frozen=True)
class BudgetPlan:
    """One alias's budget, as the step uses it."""

    budget: int
    warn_share: float
    methods: tuple[str, ...]  # how the alias's targets count tokens
    summarize_with: str | None
    summary_max_tokens: int

    @property
    def reserve(self) -> int:
        """Room kept for the summary message when turns are summarised."""
        return self.summary_max_tokens + 32 if self.summarize_with else 0


def surely_fits(ctx: Context, req: ChatRequest, bp: BudgetPlan) -> bool:
    """Whether the request's body size alone shows that neither the budget nor the system
    prompt's share can be exceeded: a token is at least one byte of text, and the few
    tokens a message or tool adds (role, framing) are covered by :data:`_SLACK_PER_ITEM`.
    Non-text parts (images cost hundreds of tokens in a short URL) rule it out."""
    if not ctx.body_bytes:
        return False
    items = len(req.messages) + len(req.tools or ()) + len(req.functions or ()) + 1
    if ctx.body_bytes + _SLACK_PER_ITEM * items > bp.warn_share * bp.budget:
        return False
    return not any(isinstance(m.content, list) and any(p.get("type") != "text"
                                                       for p in m.content)
                   for m in req.messages)


class ContextTrim:
    """The step (see the module docstring). ``route`` is the gateway's route (summaries)."""

    def __init__(self, plans: dict[str, BudgetPlan], metrics: CostMetrics, route: Next,
                 estimate_over_chars: int) -> None:
        self.plans = plans
        self.metrics = metrics
        self.route = route
        self.estimate_over_chars = estimate_over_chars
        self._warned: dict[str, float] = {}  # alias -> last warning (bounded by the config)

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        bp = self.plans.get(ctx.alias)
        req = ctx.request
        if bp is None or not isinstance(req, ChatRequest) or surely_fits(ctx, req, bp):
            return await call_next(ctx)
        work = request_work(ctx)
        methods = (ESTIMATE,) if work > self.estimate_over_chars else bp.methods
        tp: TrimPlan = await run_bounded(work, plan, req, methods, bp.budget, bp.reserve)
        self._check_system(ctx, bp, tp)
        if tp.total <= bp.budget:
            return await call_next(ctx)
        extra_cost = 0.0
        record: dict[str, Any] = {"budget": bp.budget, "prompt_tokens": tp.total,
                                  "dropped_messages": len(tp.dropped)}
        if tp.dropped:
            summary = None
            if bp.summarize_with is not None:
                summary, extra_cost = await self._summarize(ctx, req, tp, bp, record)
            self._apply(ctx, req, tp, summary)
            record["kept_tokens"] = tp.kept_total
            record["mode"] = "summarized" if summary is not None else "dropped"
            self.metrics.trimmed_tokens.labels(ctx.alias).inc(tp.total - tp.kept_total)
        if not tp.fits:
            record["mode"] = "over_budget" if not tp.dropped else record["mode"]
            record["still_over"] = True
        ctx.decisions["trim"] = record
        self.metrics.trimmed.labels(ctx.alias, record.get("mode", "over_budget")).inc()
        if not extra_cost:
            return await call_next(ctx)
        try:
            reply = await call_next(ctx)
        except BaseException:
            ctx.cost_usd += extra_cost
            raise
        if reply.stream is None:
            ctx.cost_usd += extra_cost
            return reply
        return reply.map_stream(lambda s: _add_cost(ctx, extra_cost, s))

    def _check_system(self, ctx: Context, bp: BudgetPlan, tp: TrimPlan) -> None:
        if tp.system <= bp.warn_share * bp.budget:
            return
        self.metrics.system_over_share.labels(ctx.alias).inc()
        ctx.decisions["system_prompt_tokens"] = tp.system
        now = time.monotonic()
        if now - self._warned.get(ctx.alias, -WARN_INTERVAL_S) >= WARN_INTERVAL_S:
            self._warned[ctx.alias] = now
            _log().warning("context_system_prompt_large", request_id=ctx.request_id,
                           alias=ctx.alias, system_prompt_tokens=tp.system, budget=bp.budget,
                           warn_share=bp.warn_share)

    def _apply(self, ctx: Context, req: ChatRequest, tp: TrimPlan,
               summary: Message | None) -> None:
        gone = set(tp.dropped)
        kept = [m for i, m in enumerate(req.messages) if i not in gone]
        if summary is not None:
            first = min(gone)  # the summary stands where the dropped turns began
            at = sum(1 for i in range(first) if i not in gone)
            kept.insert(at, summary)
        ctx.request = msgspec.structs.replace(req, messages=kept)
        _shift_thinking(ctx, sum(1 for i in gone if req.messages[i].role == "assistant"))
        ticket = ctx.state.get(TRAFFIC_STATE)
        if isinstance(ticket, Ticket):  # provider capacity is taken for what is sent
            extra = (len(summary.text()) + 2) // 3 if summary is not None else 0
            for method in ticket.counts:
                if method in tp.kept:
                    ticket.counts[method] = tp.kept[method] + extra

    async def _summarize(self, ctx: Context, req: ChatRequest, tp: TrimPlan, bp: BudgetPlan,
                         record: dict[str, Any]) -> tuple[Message | None, float]:
        assert bp.summarize_with is not None
        sub = Context(request=summary_request(bp.summarize_with,
                                              [req.messages[i] for i in tp.dropped],
                                              bp.summary_max_tokens),
                      request_id=ctx.request_id + "-summary", headers={},
                      identity=ctx.identity, data_classes=set(ctx.data_classes))
        info: dict[str, Any] = {"alias": bp.summarize_with}
        record["summary"] = info
        try:
            reply = await self.route(sub)
        except GatewayError as e:
            info["failed"] = e.code
            return None, 0.0
        resp = reply.response
        text = (resp.choices[0].message.text() if isinstance(resp, ChatResponse)
                and resp.choices else "")
        usage = sub.usage
        info.update(target=sub.target, cost_usd=round(sub.cost_usd, 8),
                    prompt_tokens=usage.prompt_tokens if usage else 0,
                    completion_tokens=usage.completion_tokens if usage else 0)
        if not text.strip():
            info["failed"] = "empty_summary"
            return None, sub.cost_usd
        return summary_message(text), sub.cost_usd


def _shift_thinking(ctx: Context, dropped_assistants: int) -> None:
    """Keep the Anthropic door's signed thinking blocks on the assistant turns they belong
    to: they are keyed by the assistant turn's number, which dropping turns changes."""
    ch: Any = ctx.state.get("anthropic")
    kept = getattr(ch, "thinking_in", None)
    if not dropped_assistants or not kept:
        return
    ch.thinking_in = {n - dropped_assistants: blocks for n, blocks in kept.items()
                      if n >= dropped_assistants}


async def _add_cost(ctx: Context, extra: float, stream: ChunkStream
                    ) -> AsyncIterator[ChatChunk]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        ctx.cost_usd += extra
