"""Capacity left per target, for routing (``models.X.routing: headroom``).

Reads the counters the capacity gate charges (a target's own RPM/TPM/… and its
provider's) without reserving anything. Nothing is counted twice: this is the
gate's own ledger.

* Without Redis (or while it is down) the read is this process's counters, exact
  and cheap, on every request.
* With Redis, replicas see each other's traffic. A Redis read costs a round trip,
  so what is known of a counter is kept for :data:`FRESH_S`: every reservation the
  gate makes in Redis brings each of its counters' exact remainder back (learned
  here for free), and a counter not seen for longer is read again, all of a
  request's stale counters in one call. So the view lags the other replicas by at
  most :data:`FRESH_S`; a target that filled up in that time is still never waited
  for, because the strategy spills to the next target.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bastion.traffic.ledger import Charge, MemoryLedger

if TYPE_CHECKING:
    from bastion.traffic.gate import CapacityGate
    from bastion.traffic.shared import Reservation

FRESH_S = 0.1  # how long a counter's remainder read from Redis is trusted
_PLANS_MAX = 256  # candidate sets remembered (bounded by the config in practice)


class GateHeadroom:
    """:class:`~bastion.routing.headroom.HeadroomSource` over a :class:`CapacityGate`."""

    def __init__(self, gate: CapacityGate, fresh_s: float = FRESH_S) -> None:
        self.gate = gate
        self.ledger = gate.ledger
        self.fresh_s = fresh_s
        # candidate names -> (the counters to read, each target's indexes among them)
        self._plans: dict[tuple[str, ...], tuple[list[Charge], list[list[int]]]] = {}
        self._seen: dict[str, tuple[float, float]] = {}  # counter -> (when, share left)

    def _plan(self, targets: tuple[str, ...]) -> tuple[list[Charge], list[list[int]]]:
        plan = self._plans.get(targets)
        if plan is None:
            charges: list[Charge] = []
            where: dict[str, int] = {}
            index: list[list[int]] = []
            for t in targets:
                mine = []
                for c in self.gate.counters.get(t, ()):
                    if c.key not in where:
                        where[c.key] = len(charges)
                        charges.append(Charge(c.key, c.limit, 0, c.window_ms, label=c.label,
                                              unit=c.unit))
                    mine.append(where[c.key])
                index.append(mine)
            if len(self._plans) >= _PLANS_MAX:
                self._plans.clear()
            plan = self._plans[targets] = (charges, index)
        return plan

    def learn(self, res: Reservation) -> None:
        """Keep what a reservation made in Redis says is left of each of its counters."""
        if isinstance(res.ledger, MemoryLedger) or not res.verdict.ok:
            return
        now = time.monotonic()
        for c, left in zip(res.charges, res.verdict.remaining, strict=True):
            if c.windowed:
                self._seen[c.key] = (now, max(0.0, left / c.limit))

    async def _left(self, charges: list[Charge]) -> list[float]:
        if not self.ledger.redis_up():
            return await self.ledger.left(charges)
        now = time.monotonic()
        seen = self._seen
        stale = [c for c in charges
                 if (s := seen.get(c.key)) is None or now - s[0] > self.fresh_s]
        if stale:
            for c, left in zip(stale, await self.ledger.left(stale), strict=True):
                seen[c.key] = (now, left)
        return [seen[c.key][1] for c in charges]

    async def shares(self, targets: Sequence[str]) -> list[float | None]:
        charges, index = self._plan(tuple(targets))
        if not charges:
            return [None] * len(index)
        left = await self._left(charges)
        return [min(left[i] for i in mine) if mine else None for mine in index]
