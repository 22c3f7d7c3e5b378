"""Reports and dashboard numbers over the usage log (every replica's requests).

:class:`Stats` gathers what the functions need from the gateway; the admin API
(:mod:`bastion.api.admin_reports`), the dashboard and ``bastion usage`` call it:

* :mod:`.usage`: cost per key, user, team, alias, model, provider and day, as rows or CSV;
* :mod:`.stats`: requests, errors, latency percentiles, tokens and spend over time and
  per alias/provider/key;
* :mod:`.health`: provider health (errors, breakers, queue, rate-limit headroom);
* :mod:`.security`: refusals by code and guard decisions (labels and counts only);
* :mod:`.routing`: what cost-aware routing and context trimming did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.reports.health import providers
from bastion.reports.routing import routing
from bastion.reports.security import security
from bastion.reports.stats import Window, overview
from bastion.reports.usage import Report, usage_report

if TYPE_CHECKING:
    from bastion.app import Gateway


class Stats:
    """The report functions bound to one gateway's stores and settings."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def _fresh(self) -> None:
        await self.gw.recorder.flush()  # this worker's queued rows count too

    async def overview(self, w: Window) -> dict[str, Any]:
        await self._fresh()
        names = {k.id: k.name for k in await self.gw.keys.list()}
        return await overview(self.gw.db, w, names)

    async def providers(self, w: Window) -> dict[str, Any]:
        from bastion.traffic.tiers import capacities

        await self._fresh()
        s = self.gw.settings
        targets = list(dict.fromkeys(t.target for a in s.models.values() for t in a.targets))
        limits = {t: [(c.scope, c.limits) for c in caps]
                  for t, caps in capacities(s).items()}
        board = self.gw.route.breakers
        queues: dict[str, float] = {}
        for metric in self.gw.metrics.queue_depth.collect():
            for sample in metric.samples:
                queues[sample.labels["target"]] = sample.value
        return await providers(self.gw.db, w, targets, limits, board.snapshot(), queues,
                               s.traffic.window_s)

    async def security(self, w: Window) -> dict[str, Any]:
        await self._fresh()
        return await security(self.gw.db, w)

    async def routing(self, w: Window) -> dict[str, Any]:
        await self._fresh()
        return await routing(self.gw.db, w)

    async def usage(self, group_by: list[str], since: float | None,
                    until: float | None) -> Report:
        await self._fresh()
        return await usage_report(self.gw.db, group_by, since, until)
