"""Reports and dashboard numbers in the admin API (the viewer role).

=====================================  =======================================================
``GET /admin/stats/overview``          ``?range=1h|24h|7d|30d``: totals, a series per bucket
                                       (requests, errors, p50/p99 ms, tokens, spend) and the
                                       same per alias, provider and key
``GET /admin/stats/providers``         ``?range=``: per target: requests, server errors and
                                       their rate, latency, breaker, queue, rate-limit headroom
``GET /admin/stats/security``          ``?range=``: refusals by code; guard decisions by label
``GET /admin/stats/routing``           ``?range=``: auto-routing decisions by alias picked,
                                       choice and reason; context trimming by alias and mode
``GET /admin/reports/usage``           ``?group_by=key,user,team,alias,model,provider,day``
                                       ``&since=&until=`` (``7d``, an ISO date, epoch seconds)
                                       ``&format=json|csv``: cost and usage per group
=====================================  =======================================================

Every number the dashboard shows is one of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.common import json_response
from bastion.api.middleware import add_route
from bastion.identity.audit import parse_when
from bastion.reports import Stats
from bastion.reports.stats import window
from bastion.reports.usage import parse_group_by, to_csv

if TYPE_CHECKING:
    from bastion.app import Gateway


class ReportAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.stats = Stats(gateway)

    def register(self, app: web.Application) -> None:
        g = self.gw.admins.route
        add_route(app, "GET", "/admin/stats/overview", g(self.overview, "viewer"))
        add_route(app, "GET", "/admin/stats/providers", g(self.providers, "viewer"))
        add_route(app, "GET", "/admin/stats/security", g(self.security, "viewer"))
        add_route(app, "GET", "/admin/stats/routing", g(self.routing, "viewer"))
        add_route(app, "GET", "/admin/reports/usage", g(self.usage, "viewer"))

    async def overview(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.stats.overview(window(request.query.get("range"))))

    async def providers(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.stats.providers(window(request.query.get("range"))))

    async def security(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.stats.security(window(request.query.get("range"))))

    async def routing(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.stats.routing(window(request.query.get("range"))))

    async def usage(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        report = await self.stats.usage(parse_group_by(q.get("group_by")),
                                        parse_when(q.get("since"), "since"),
                                        parse_when(q.get("until"), "until"))
        if q.get("format") == "csv":
            return web.Response(text=to_csv(report), content_type="text/csv", headers={
                "Content-Disposition": 'attachment; filename="bastion-usage.csv"'})
        return json_response(report.as_dict())
