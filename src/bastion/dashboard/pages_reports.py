"""The reports page (the viewer role): cost per key, user, team, alias, model, provider
and day, as a chart, a table and a CSV download (the same report as ``GET
/admin/reports/usage`` and ``bastion usage --csv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aiohttp import web

from bastion.api.middleware import add_route
from bastion.dashboard import html as h
from bastion.identity.audit import parse_when
from bastion.reports import Stats
from bastion.reports.usage import DIMENSIONS, METRICS, Report, parse_group_by, to_csv

if TYPE_CHECKING:
    from bastion.dashboard.routes import Dashboard, Ui

PERIODS = ("1d", "7d", "30d", "90d", "365d")


class ReportPages:
    def __init__(self, dash: Dashboard) -> None:
        self.stats = Stats(dash.gw)

    async def _report(self, ui: Ui) -> tuple[Report, str, str]:
        q = ui.request.query
        group = q.get("group_by", "alias")
        since = q.get("since", "30d")
        dims = parse_group_by(group)
        return await self.stats.usage(dims, parse_when(since, "since"), None), ",".join(
            dims), since

    async def page(self, ui: Ui) -> web.StreamResponse:
        report, group, since = await self._report(ui)
        query = urlencode({"group_by": group, "since": since})
        pick = "".join(h.link("/ui/reports?" + urlencode({"group_by": d, "since": since}), d,
                              d == group) for d in DIMENSIONS)
        periods = "".join(h.link("/ui/reports?" + urlencode({"group_by": group, "since": p}),
                                 p, p == since) for p in PERIODS)
        chart_rows = [{"label": " · ".join(str(r[d] or h.DASH) for d in report.group_by),
                       "cost_usd": r["cost_usd"], "requests": r["requests"]}
                      for r in report.rows[:30]]
        rows = [[*(h.esc(r[d]) for d in report.group_by), f'{r["requests"]:,}',
                 f'{r["errors"]:,}', f'{r["prompt_tokens"]:,}', f'{r["completion_tokens"]:,}',
                 h.money(r["cost_usd"])] for r in report.rows]
        t = report.totals()
        body = (f'<div class="ranges">Group by: {pick}</div>'
                f'<div class="ranges">Since: {periods}</div>' +
                h.cards([("Requests", f'{t["requests"]:,}'), ("Errors", f'{t["errors"]:,}'),
                         ("Spend", h.money(t["cost_usd"]))]) +
                h.data_block("report", chart_rows) + '<div class="charts">' +
                h.chart("report", "hbar", ["cost_usd"], ["Spend"], f"Spend by {group}", "$") +
                "</div>" + h.table([*report.group_by, *METRICS], rows, "report") +
                f'<p><a class="button" id="csv" href="/ui/reports.csv?{h.attr(query)}">'
                "Download CSV</a></p>" +
                h.api_hint(f"/admin/reports/usage?{query}&format=csv") +
                f'<p class="api">Or: <code>bastion usage --csv --since {h.esc(since)} '
                f'--group-by {h.esc(group)}</code></p>')
        return ui.render("Reports", body, "/ui/reports")

    async def csv(self, ui: Ui) -> web.StreamResponse:
        report, _, _ = await self._report(ui)
        return web.Response(text=to_csv(report), content_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="bastion-usage.csv"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def register(dash: Dashboard, app: web.Application) -> None:
    p = ReportPages(dash)
    add_route(app, "GET", "/ui/reports", dash.page(p.page, "viewer"))
    add_route(app, "GET", "/ui/reports.csv", dash.page(p.csv, "viewer"))
