"""``headroom``: the target with the most capacity left in the current window first.

Capacity is what traffic control already counts (``providers.X.limits`` and a
target's ``limits``: RPM, TPM, …, over ``traffic.window_s``), read through a
:class:`HeadroomSource` that traffic control plugs in at build time: one read of
the counters every candidate charges, in Redis when ``state.redis`` is set (so
every replica sees what the others spent), else in this process. A target's share
is the smallest fraction left over its counters (its own and its provider's), so
deployments of different sizes fill up evenly; a target without limits counts as
wholly free. Ties keep config order.

The strategy spills: when the first target's capacity is gone by the time the
request reaches it (another request took the last of it), the request goes to the
next target at once instead of waiting in the first one's queue; only the last
candidate waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from bastion.routing.base import Ranked, only

if TYPE_CHECKING:
    from bastion.core.context import Context
    from bastion.steps.route import Target


class HeadroomSource(Protocol):
    async def shares(self, targets: Sequence[str]) -> Sequence[float | None]:
        """Per target ("provider/model"): the fraction of its capacity left now (0 to 1),
        or ``None`` when it has no limits."""
        ...


class HeadroomLink:
    """Where the strategies find the source; traffic control sets it (or nobody, when
    traffic control is off: then ``headroom`` keeps config order)."""

    __slots__ = ("source",)

    def __init__(self) -> None:
        self.source: HeadroomSource | None = None


class Headroom:
    name = "headroom"
    spill = True

    def __init__(self, link: HeadroomLink) -> None:
        self.link = link

    async def rank(self, ctx: Context, targets: Sequence[Target]) -> Ranked:
        if (one := only(targets)) is not None:
            return one
        source = self.link.source
        if source is None:
            return Ranked(targets, "no capacity limits known (config order)")
        shares = await source.shares([t.name for t in targets])
        left = [1.0 if s is None else s for s in shares]
        order = sorted(range(len(targets)), key=lambda i: -left[i])
        first = order[0]
        why = ("no limits" if shares[first] is None
               else f"most capacity left ({left[first]:.0%})")
        return Ranked([targets[i] for i in order], why)
