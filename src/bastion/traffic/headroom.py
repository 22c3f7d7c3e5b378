"""Capacity left per target, for routing (``models.X.routing: headroom``).

Reads the counters the capacity gate charges (a target's own RPM/TPM/… and its
provider's) without reserving anything: one ledger call for all the candidates of
a request, in Redis when it is shared (so replicas see each other's traffic), else
in this process (and while Redis is down, as :class:`~bastion.traffic.shared.SharedLedger`
counts then). Nothing is counted twice: this is the gate's own ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bastion.traffic.ledger import Charge

if TYPE_CHECKING:
    from bastion.traffic.gate import CapacityGate

_PLANS_MAX = 256  # candidate sets remembered (bounded by the config in practice)


class GateHeadroom:
    """:class:`~bastion.routing.headroom.HeadroomSource` over a :class:`CapacityGate`."""

    def __init__(self, gate: CapacityGate) -> None:
        self.gate = gate
        # candidate names -> (the counters to read, each target's indexes among them)
        self._plans: dict[tuple[str, ...], tuple[list[Charge], list[list[int]]]] = {}

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

    async def shares(self, targets: Sequence[str]) -> list[float | None]:
        charges, index = self._plan(tuple(targets))
        if not charges:
            return [None] * len(index)
        left = await self.gate.ledger.left(charges)
        return [min(left[i] for i in mine) if mine else None for mine in index]
