"""The steps of this part, built from the settings: ``auto_route`` and ``trim``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.pipeline import Step
from bastion.cost.metrics import CostMetrics
from bastion.cost.rules import Rules
from bastion.traffic.tokens import TokenCounter, method_for

if TYPE_CHECKING:
    from bastion.app import Gateway


def build_cost_steps(gw: Gateway) -> tuple[list[Step], list[Step]]:
    """``([auto_route], [trim])``, each empty when no alias needs it. The first goes right
    after ``authenticate``, the second just before the cache (see ``app.py``)."""
    from bastion.steps.auto_route import AutoPlan, AutoRoute
    from bastion.steps.trim import BudgetPlan, ContextTrim

    models = gw.settings.models
    autos = {name: AutoPlan(a.auto.cheap, a.auto.strong,
                            Rules(a.auto.max_cheap_prompt_tokens, a.auto.max_cheap_turns),
                            a.auto.classifier)
             for name, a in models.items() if a.kind == "auto" and a.auto is not None}
    budgets = {name: BudgetPlan(c.max_prompt_tokens, c.system_warn_share,
                                tuple(sorted({method_for(t.model) for t in a.targets})),
                                c.summarize_with, c.summary_max_tokens)
               for name, a in models.items() if a.kind == "chat" and (c := a.context)}
    if not autos and not budgets:
        return [], []
    registry = gw.metrics.registry  # one set per process: config reloads share it
    metrics = gw.lasting_part(("cost.metrics",), lambda: CostMetrics(registry))
    first: list[Step] = []
    if autos:
        classifier = None
        if any(p.classifier for p in autos.values()):
            from bastion.cost.classifier import Classifier

            # One model per process, whatever the reloads (loading it takes seconds).
            classifier = gw.lasting_part(("cost.classifier",), Classifier, Classifier.aclose)
            gw.on_start.append(classifier.start)
        first.append(AutoRoute(autos, metrics, classifier))
    last: list[Step] = []
    if budgets:
        counter = TokenCounter()
        methods = {m for b in budgets.values() for m in b.methods}

        async def prewarm() -> None:
            await counter.prewarm(methods)

        gw.on_start.append(prewarm)
        last.append(ContextTrim(budgets, metrics, gw.route,
                                gw.settings.traffic.estimate_over_chars))
    return first, last
