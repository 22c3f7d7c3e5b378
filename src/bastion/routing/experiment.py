"""A/B experiments: an alias whose targets are the arms (``models.X.experiment``).

The arm of a request is the target its strategy ranks first (by weight; with
``sticky: user`` each user stays in one arm on every replica). It is decided before
health is looked at, so it is the assignment: when the arm's target is down the
request falls back like any other and the log says so (``fallback``), but its arm
does not change. The arm goes to the request's log line (``decisions.arm``), the
``bastion_experiment_requests_total`` metric and the usage row (``arm`` column).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bastion.routing.base import Ranked, Strategy

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.observe.metrics import Metrics
    from bastion.steps.route import Target


class Experiment:
    def __init__(self, inner: Strategy, alias: str, experiment: str, metrics: Metrics,
                 arms: Sequence[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.spill = inner.spill
        self.experiment = experiment
        self.counted: dict[str, Any] = {
            arm: metrics.experiment_requests.labels(alias, experiment, arm) for arm in arms}

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        ranked = await self.inner.rank(ctx, targets)
        arm = ranked.targets[0].name
        ctx.decisions["experiment"] = self.experiment
        ctx.decisions["arm"] = arm
        self.counted[arm].inc()
        return ranked
