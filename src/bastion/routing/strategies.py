"""The strategies that need nothing but the targets and this process's measurements:
``ordered``, ``weighted``, ``least_busy`` and ``latency``."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bastion.routing.base import Ranked, only
from bastion.routing.stats import TargetStats

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.steps.route import Target

# Share of ``latency`` requests sent first to another target than the fastest, so a
# target that was slow and has recovered is measured again and gets its traffic back.
EXPLORE = 0.05


class Ordered:
    """Config order: the first target takes everything while it works (the default)."""

    name = "ordered"
    spill = False

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        return only(targets) or Ranked(targets, "first in order")


class Weighted:
    """Smooth weighted round robin (nginx's): each target's share of first choices is
    exactly its weight's share, interleaved (3:1 gives a a b a, a a b a, …), with no
    randomness to drift. The fallback order is the order the next picks would take.

    Per alias: a credit per target, changed only between awaits."""

    name = "weighted"
    spill = False

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.weights = dict(weights)
        self.credit = dict.fromkeys(weights, 0.0)

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        if (one := only(targets)) is not None:
            return one
        weights, credit = self.weights, self.credit
        total = 0.0
        best = targets[0]
        top = float("-inf")
        for t in targets:
            w = weights[t.name]
            c = credit[t.name] = credit[t.name] + w
            total += w
            if c > top:
                best, top = t, c
        credit[best.name] -= total
        rest = sorted((t for t in targets if t is not best), key=lambda t: -credit[t.name])
        return Ranked([best, *rest], f"weight {weights[best.name]:g} of {total:g}")


class LeastBusy:
    """Fewest requests in flight first (this process's count); ties take turns."""

    name = "least_busy"
    spill = False

    def __init__(self, stats: TargetStats) -> None:
        self.stats = stats
        self.turn = 0

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        if (one := only(targets)) is not None:
            return one
        busy = self.stats.in_flight
        n = len(targets)
        self.turn = turn = (self.turn + 1) % n
        order = sorted(range(n), key=lambda i: (busy.get(targets[i].name, 0), (i - turn) % n))
        ranked = [targets[i] for i in order]
        return Ranked(ranked, f"fewest in flight ({busy.get(ranked[0].name, 0)})")


class Latency:
    """Lowest recent time to first byte first; a target never measured goes first (so it
    gets measured), and :data:`EXPLORE` of the requests try another target first."""

    name = "latency"
    spill = False

    def __init__(self, stats: TargetStats, rng: random.Random) -> None:
        self.stats = stats
        self.rng = rng

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        if (one := only(targets)) is not None:
            return one
        ttfb = self.stats.ttfb
        ranked = sorted(targets, key=lambda t: ttfb.get(t.name, 0.0))
        seen = ttfb.get(ranked[0].name)
        if seen is None:
            return Ranked(ranked, "not measured yet")
        if self.rng.random() < EXPLORE:
            ranked.insert(0, ranked.pop(self.rng.randrange(1, len(ranked))))
            return Ranked(ranked, "exploring")
        return Ranked(ranked, f"fastest first byte ({seen * 1000:.0f} ms)")
