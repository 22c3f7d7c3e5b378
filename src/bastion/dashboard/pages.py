"""The read-only pages: overview, providers, security (the viewer role).

Each shows what one admin call returns (named at the bottom of the page), so every
number can be checked against ``GET /admin/stats/…``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api.middleware import add_route
from bastion.dashboard import html as h
from bastion.reports import Stats
from bastion.reports.stats import RANGES, window

if TYPE_CHECKING:
    from bastion.dashboard.routes import Dashboard, Ui


def ranges(path: str, current: str) -> str:
    links = "".join(h.link(f"{path}?range={r}", r, r == current) for r in RANGES)
    return f'<div class="ranges">Range: {links}</div>'


def _breakdown(rows: list[dict[str, Any]], name: str, key_names: bool = False) -> str:
    head = [name, "Requests", "Errors", "p50", "p99", "Tokens in", "Tokens out", "Spend"]
    out = []
    for r in rows:
        label = h.esc(r["name"]) if r["name"] else '<span class="hint">(none answered)</span>'

        if key_names:
            label = f'{h.esc(r.get("key_name"))} <code>{h.esc(r["name"])}</code>'
        out.append([label, f'{r["requests"]:,}', f'{r["errors"]:,}', h.ms(r.get("p50_ms")),
                    h.ms(r.get("p99_ms")), f'{r["prompt_tokens"]:,}',
                    f'{r["completion_tokens"]:,}', h.money(r["cost_usd"])])
    return h.table(head, out)


def _cost_routing(r: dict[str, Any], range_name: str) -> str:
    """Auto-routing decisions and context trimming (docs/cost-routing.md), when any."""
    if not r["auto_route"] and not r["trim"]:
        return ""
    return ("<h2>Auto routing</h2>" + h.table(
        ["Alias", "Sent to", "Choice", "Reason", "Requests", "Spend"],
        [[h.esc(x["alias"]), h.esc(x["to"]), h.esc(x["choice"]), f'<code>{h.esc(x["reason"])}'
          "</code>", f'{x["requests"]:,}', h.money(x["cost_usd"])] for x in r["auto_route"]]) +
        "<h2>Context trimming</h2>" + h.table(
        ["Alias", "Mode", "Requests", "Prompt tokens removed"],
        [[h.esc(x["alias"]), h.esc(x["mode"]), f'{x["requests"]:,}',
          f'{x["tokens_removed"]:,}'] for x in r["trim"]]) +
        h.api_hint(f"/admin/stats/routing?range={range_name}"))


class ReadPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash
        self.stats = Stats(dash.gw)

    async def overview(self, ui: Ui) -> web.StreamResponse:
        w = window(ui.request.query.get("range"))
        o = await self.stats.overview(w)
        t = o["totals"]
        rate = t["errors"] / t["requests"] if t["requests"] else 0.0
        pending = await self.dash.gw.reviews.queue.count_pending()
        body = (
            '<div class="toolbar">' + ranges("/ui/", w.name) +
            '<label class="refresh"><input type="checkbox" id="auto-refresh"> Auto-refresh '
            f'every {self.dash.refresh_s} s</label></div>' +
            h.cards([("Requests", f'{t["requests"]:,}'), ("Errors", f'{t["errors"]:,}'),
                     ("Error rate", f"{rate:.1%}"), ("p50 latency", h.ms(t.get("p50_ms"))),
                     ("p99 latency", h.ms(t.get("p99_ms"))),
                     ("Tokens", f'{t["prompt_tokens"] + t["completion_tokens"]:,}'),
                     ("Spend", h.money(t["cost_usd"])),
                     ("Awaiting review", f'<a href="/ui/review">{pending:,}</a>')]) +
            h.data_block("series", o["series"]) + '<div class="charts">' +
            h.chart("series", "line", ["requests", "errors"], ["Requests", "Errors"],
                    "Requests and errors") +
            h.chart("series", "line", ["p50_ms", "p99_ms"], ["p50", "p99"], "Latency", "ms") +
            h.chart("series", "bar", ["prompt_tokens", "completion_tokens"],
                    ["Tokens in", "Tokens out"], "Tokens") +
            h.chart("series", "bar", ["cost_usd"], ["Spend"], "Spend", "$") + "</div>" +
            "<h2>By alias</h2>" + _breakdown(o["by_alias"], "Alias") +
            "<h2>By provider</h2>" + _breakdown(o["by_provider"], "Provider") +
            "<h2>By key</h2>" + _breakdown(o["by_key"], "Key", key_names=True) +
            h.api_hint(f"/admin/stats/overview?range={w.name}") +
            _cost_routing(await self.stats.routing(w), w.name))
        return ui.render("Overview", body, "/ui/", refresh=True)

    async def providers(self, ui: Ui) -> web.StreamResponse:
        w = window(ui.request.query.get("range", "1h"))
        p = await self.stats.providers(w)
        rows = []
        for r in p["data"]:
            room = "".join(
                f'<div class="room">{h.esc(x["scope"])} {h.esc(x["limit"])}: '
                f'<meter min="0" max="{x["value"]}" low="{x["value"] * 0.2}" '
                f'optimum="{x["value"]}" value="{x["headroom"]}"></meter> '
                f'{x["headroom"]:,} of {x["value"]:,} left</div>' for x in r["headroom"])
            rows.append([f'<code>{h.esc(r["target"])}</code>',
                         f'<span class="badge {h.attr(r["breaker"])}">{h.esc(r["breaker"])}'
                         "</span>", f'{r["requests"]:,}', f'{r["failed_attempts"]:,}',
                         f'{r["error_rate"]:.1%}', f'{r["rate_limited"]:,}',
                         h.ms(r.get("p50_ms")), h.ms(r.get("p99_ms")),
                         f'{r["queue_depth"]:,}', room or "no limits configured"])
        body = (ranges("/ui/providers", w.name) + h.table(
            ["Target", "Breaker", "Answered", "Failed attempts", "Error rate", "429s", "p50",
             "p99", "Queue", f'Rate-limit headroom (last {p["window_s"]:g} s)'], rows) +
            '<p class="hint">Breakers and queues as this worker sees them (shared through '
            "Redis when configured); counts from every replica's usage log.</p>" +
            h.api_hint(f"/admin/stats/providers?range={w.name}") +
            h.api_hint("/admin/breakers"))
        return ui.render("Providers", body, "/ui/providers")

    async def security(self, ui: Ui) -> web.StreamResponse:
        w = window(ui.request.query.get("range"))
        s = await self.stats.security(w)
        by_code: dict[str, int] = {}
        for r in s["refusals"]:
            by_code[r["code"]] = by_code.get(r["code"], 0) + r["count"]
        chart_rows = [{"label": k, "count": v} for k, v in by_code.items()]
        body = (ranges("/ui/security", w.name) + h.data_block("refusals", chart_rows) +
                '<div class="charts">' + h.chart("refusals", "hbar", ["count"], ["Refusals"],
                                                  "Refusals by code") + "</div>" +
                "<h2>Refusals by code</h2>" + h.table(
                    ["Code", "Status", "Alias", "Requests"],
                    [[f'<code>{h.esc(r["code"])}</code>', h.esc(r["status"]),
                      h.esc(r["alias"]), f'{r["count"]:,}'] for r in s["refusals"]]) +
                "<h2>Guard decisions</h2>" + h.table(
                    ["Decision", "Label", "Alias", "Count"],
                    [[f'<code>{h.esc(d["decision"])}</code>', h.esc(d["label"] or h.DASH),
                      h.esc(d["alias"]), f'{d["count"]:,}'] for d in s["decisions"]]) +
                '<p class="hint">Counts and labels only: the gateway never records the text '
                "of a prompt or the personal values a guard found.</p>" +
                h.api_hint(f"/admin/stats/security?range={w.name}"))
        return ui.render("Security", body, "/ui/security")


def register(dash: Dashboard, app: web.Application) -> None:
    p = ReadPages(dash)
    add_route(app, "GET", "/ui/", dash.page(p.overview, "viewer"))
    add_route(app, "GET", "/ui/providers", dash.page(p.providers, "viewer"))
    add_route(app, "GET", "/ui/security", dash.page(p.security, "viewer"))
