"""The route step's one question to routing: in which order to try this request's
targets. Built once from the settings: a strategy per alias (wrapped by ``sticky`` and
``experiment`` when set), the candidates' filters, and the metric series.

Per request, :meth:`Router.plan`:

1. keeps the targets that may receive the request (the compliance predicate; none:
   ``no_compliant_provider``) and that can serve it (capabilities; none:
   ``no_capable_model``);
2. asks the alias's strategy to rank them;
3. records the decision: ``decisions.routing`` in the request's log line
   (``{"strategy", "why", "first"}``), the same on the upstream span
   (``bastion.routing.*``), and ``bastion_routed_total{alias, target, strategy}``.

The route then tries the ranked targets in order, skipping those whose breaker is open.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core.errors import NoCompliantProvider
from bastion.observe.logging import get_logger
from bastion.resilience.fallback import default_compliance
from bastion.routing.base import Strategy
from bastion.routing.experiment import Experiment
from bastion.routing.headroom import Headroom, HeadroomLink, HeadroomSource
from bastion.routing.needs import capable
from bastion.routing.stats import TargetStats
from bastion.routing.sticky import Sticky
from bastion.routing.strategies import Latency, LeastBusy, Ordered, Weighted

if TYPE_CHECKING:
    from bastion.config.settings import AliasSettings, Settings
    from bastion.core.context import Context
    from bastion.observe.metrics import Metrics
    from bastion.resilience.fallback import CompliancePredicate
    from bastion.steps.route import AliasRoute, Target


@dataclass(slots=True, frozen=True)
class Parts:
    """What a strategy may be built from."""

    weights: Mapping[str, float]
    stats: TargetStats
    link: HeadroomLink
    rng: random.Random


STRATEGIES: dict[str, Callable[[Parts], Strategy]] = {
    "ordered": lambda p: Ordered(),
    "weighted": lambda p: Weighted(p.weights),
    "least_busy": lambda p: LeastBusy(p.stats),
    "latency": lambda p: Latency(p.stats, p.rng),
    "headroom": lambda p: Headroom(p.link),
}


@dataclass(slots=True, frozen=True)
class Plan:
    """The targets to try, in order; ``spill``: see :data:`~bastion.routing.SPILL_STATE`."""

    targets: Sequence[Target]
    spill: bool = False


@dataclass(slots=True, frozen=True)
class AliasPlan:
    strategy: Strategy
    caps: Mapping[str, frozenset[str] | None] | None  # None: no target lists capabilities
    routed: Mapping[str, Any]  # target -> its bastion_routed_total child


class Router:
    """Every alias's plan, built once; :meth:`plan` per request. Without a plan for an
    alias (a route built by hand), its targets keep config order."""

    def __init__(self, plans: Mapping[str, AliasPlan] | None = None,
                 stats: TargetStats | None = None, link: HeadroomLink | None = None) -> None:
        self.plans = dict(plans or {})
        self.stats = stats or TargetStats()
        self.link = link or HeadroomLink()
        self.default = AliasPlan(Ordered(), None, {})

    def use_headroom(self, source: HeadroomSource, limited: Callable[[str], bool]) -> None:
        """Plug in traffic control's capacity counters (``routing: headroom``); warn about
        aliases none of whose targets has a limit, where it keeps config order."""
        self.link.source = source
        for alias, p in self.plans.items():
            if p.strategy.name == "headroom" and not any(limited(t) for t in p.routed):
                _warn_no_limits(alias, "no target of this alias has limits: it keeps "
                                       "config order")

    async def plan(self, ctx: Context, route: AliasRoute,
                   compliance: CompliancePredicate) -> Plan:
        """The candidates of ``ctx``'s request, best first (see the module docstring)."""
        p = self.plans.get(route.name, self.default)
        targets: Sequence[Target] = route.targets
        if ctx.data_classes or compliance is not default_compliance:
            targets = [t for t in targets if compliance(ctx, t)]
            if not targets:
                ctx.decisions["skipped_noncompliant"] = len(route.targets)
                raise NoCompliantProvider()
        if p.caps is not None:
            targets = capable(ctx, targets, p.caps)
        ranked = await p.strategy.rank(ctx, targets)
        first = ranked.targets[0].name
        ctx.decisions["routing"] = {"strategy": p.strategy.name, "why": ranked.why,
                                    "first": first}
        counter = p.routed.get(first)
        if counter is not None:
            counter.inc()
        return Plan(ranked.targets, p.strategy.spill)


def alias_plan(name: str, a: AliasSettings, parts: Parts, metrics: Metrics) -> AliasPlan:
    strategy = STRATEGIES[a.routing](parts)
    if a.sticky != "none":
        strategy = Sticky(strategy, a.sticky, parts.weights)
    names = [t.target for t in a.targets]
    if a.experiment is not None:
        strategy = Experiment(strategy, name, a.experiment, metrics, names)
    caps = ({t.target: frozenset(t.capabilities) if t.capabilities is not None else None
             for t in a.targets}
            if any(t.capabilities is not None for t in a.targets) else None)
    routed = {n: metrics.routed.labels(name, n, strategy.name) for n in names}
    return AliasPlan(strategy, caps, routed)


def build_router(settings: Settings, metrics: Metrics, rng: random.Random | None = None,
                 stats: TargetStats | None = None) -> Router:
    """The router of every alias in ``settings``; ``stats`` (in flight, latency) may be
    shared with the routers of earlier config generations (bastion.generation)."""
    stats, link, rng = stats or TargetStats(), HeadroomLink(), rng or random.Random()  # noqa: S311 - load spreading, not secrecy
    plans = {
        name: alias_plan(name, a, Parts({t.target: t.weight for t in a.targets}, stats, link,
                                        rng), metrics)
        for name, a in settings.models.items()}
    if not settings.traffic.enabled:
        for name, a in settings.models.items():
            if a.routing == "headroom":
                _warn_no_limits(name, "traffic control is off: it keeps config order")
    return Router(plans, stats, link)


def _warn_no_limits(alias: str, hint: str) -> None:
    get_logger("bastion.routing").warning("headroom_without_limits", alias=alias, hint=hint)
