"""auto_route →: a request to an alias of kind ``auto`` goes to its cheap or its strong alias.

It sits right after ``authenticate``, which checked the caller's scope against the
alias the client asked for (a key scoped to ``assistant`` may use it without being
scoped to the aliases it picks). The rules (:mod:`bastion.cost.rules`, and the local
classifier when ``auto.classifier`` is on: :mod:`bastion.cost.classifier`) pick
``cheap`` or ``strong``; the request is then re-pointed to that alias
(``request.model``), so every step after this one — client limits and budgets,
guards, the cache, the context budget, the route — works with the picked alias: its
targets, its prices (the admit step reserves a budget at the picked alias's prices),
its policies.

Each decision is recorded in ``ctx.decisions["auto_route"]`` (``alias`` asked for,
``to``, ``choice``, ``reason``, ``signals``, ``est_prompt_tokens`` and, when the
classifier decided, ``p_complex``): it is on the request's log line and usage row,
never any request text. The metric ``bastion_auto_route{alias,choice,reason}`` counts
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.cache.semantic.embedder import EmbedFailed
from bastion.core.context import Context, Reply
from bastion.core.errors import InvalidRequest
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.cost.rules import CHARS_PER_TOKEN, Decision, Rules, decide, instruction
from bastion.traffic.tokens import request_work

if TYPE_CHECKING:
    from bastion.cost.classifier import Classifier
    from bastion.cost.metrics import CostMetrics

STATE = "auto_route"


@dataclass(slots=True, frozen=True)
class AutoPlan:
    """One ``auto`` alias: the aliases it picks from and its rules."""

    cheap: str
    strong: str
    rules: Rules
    classifier: bool


def wants_reasoning(ctx: Context) -> bool:
    """Whether an Anthropic client asked for extended thinking (kept in the side channel)."""
    ch: Any = ctx.state.get("anthropic")
    thinking = getattr(ch, "params", {}).get("thinking") if ch is not None else None
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


class AutoRoute:
    """The step (see the module docstring)."""

    def __init__(self, plans: dict[str, AutoPlan], metrics: CostMetrics,
                 classifier: Classifier | None) -> None:
        self.plans = plans
        self.metrics = metrics
        self.classifier = classifier

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        plan = self.plans.get(ctx.alias)
        if plan is None:
            return await call_next(ctx)
        if ctx.kind != "chat":
            raise InvalidRequest(f"The model {ctx.alias!r} serves chat completions; use an "
                                 "embeddings model for this endpoint.", param="model")
        req = ctx.chat
        # The rules read text only under the long-context threshold: that bounds the work.
        work = min(request_work(ctx), CHARS_PER_TOKEN * (plan.rules.max_cheap_prompt_tokens + 1))
        d: Decision = await run_bounded(work, decide, req, plan.rules, wants_reasoning(ctx))
        if plan.classifier and self.classifier is not None and not d.settled:
            d = await self._classify(ctx, d)
        to = plan.cheap if d.choice == "cheap" else plan.strong
        ctx.decisions[STATE] = {"alias": ctx.alias, "to": to, **d.explain()}
        self.metrics.auto_route.labels(ctx.alias, d.choice, d.reason).inc()
        ctx.request = msgspec.structs.replace(req, model=to)
        return await call_next(ctx)

    async def _classify(self, ctx: Context, d: Decision) -> Decision:
        assert self.classifier is not None
        try:
            p = await self.classifier.p_complex(instruction(ctx.chat), ctx)
        except EmbedFailed:
            return Decision(d.choice, d.reason, (*d.signals, "classifier_unavailable"),
                            d.prompt_tokens)
        return d.classified(p, self.classifier.threshold)
