"""``bastion pia``: the privacy impact assessment, from the config and recorded traffic.

It reads the settings (providers and their declared DPA / BAA / training / retention /
regions; aliases and their targets, detection, actions, stored bodies, legal basis,
purpose, disclosure; retention) and the database's privacy events (one row per request
with findings: alias, target, data classes, counts per entity type and action: never a
value, a user or a key) and usage rows. It writes Markdown and a self-contained HTML
page (inline CSS and SVG charts, no scripts, nothing fetched). Gaps are listed first
and shown in red: a route that can send personal data to a provider without a DPA,
personal data to a provider that trains on it, PHI seen on a route with no BAA target,
a provider with no declared retention, an alias without a legal basis or purpose, usage
kept forever, names not detected, disclosure off.
"""

from __future__ import annotations

import html
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bastion.config.settings import Settings
from bastion.privacy.entities import NER_ENTITIES
from bastion.stores.base import SQL


@dataclass(slots=True)
class Traffic:
    """What the privacy events say for the period."""

    requests: Counter[str] = field(default_factory=Counter)  # alias -> requests with findings
    classes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    actions: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    received: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    usage: Counter[str] = field(default_factory=Counter)  # alias -> all requests

    @property
    def class_totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.classes.values():
            out.update(c)
        return out


async def read_traffic(db: SQL, since: float) -> Traffic:
    t = Traffic()
    rows = await db.sql_fetch(
        "SELECT alias, target, classes, counts FROM privacy_events WHERE ts >= ?", since)
    for alias, target, classes, counts in rows:
        t.requests[alias] += 1
        for c in filter(None, str(classes).split(",")):
            t.classes[alias][c] += 1
        for key, n in json.loads(counts).items():
            entity, _, action = key.partition(":")
            t.actions[alias][f"{entity} → {action}"] += int(n)
            if target:
                what = "stand-in" if action == "pseudonymize" else (
                    "[redacted]" if action == "redact" else "as sent")
                t.received[str(target)][f"{entity} ({what})"] += int(n)
    for alias, n in await db.sql_fetch(
            "SELECT alias, COUNT(*) FROM usage WHERE ts >= ? GROUP BY alias", since):
        t.usage[str(alias)] = int(n)
    return t


def gaps(settings: Settings, traffic: Traffic) -> list[str]:
    out: list[str] = []
    ps = settings.privacy
    for name, p in settings.providers.items():
        c = p.compliance
        if c.retention_days is None:
            out.append(f"Provider {name!r} declares no retention period (compliance."
                       "retention_days).")
    for alias, a in settings.models.items():
        mode = a.guards.pii or settings.guards.pii
        actions = {**ps.actions, **a.privacy.actions}
        blocks_all = mode == "block" and all(v == "block" for v in actions.values())
        entities = set(a.privacy.entities if a.privacy.entities is not None else ps.entities)
        for t in a.targets:
            c = settings.providers[t.provider].compliance
            if not blocks_all and not c.dpa:
                out.append(f"Route {alias!r} can send personal data (values not detected, or "
                           f"allowed) to {t.target}, whose provider has no DPA.")
            if c.trains_on_data and (mode == "allow" or "allow" in actions.values()):
                out.append(f"Route {alias!r} allows personal data through, and {t.target} "
                           "trains on what it receives (it is excluded for personal data).")
        if traffic.classes[alias]["phi"] and not any(
                settings.providers[t.provider].compliance.baa for t in a.targets):
            out.append(f"Route {alias!r} saw health information (phi) but has no BAA-covered "
                       "target: those requests were refused.")
        if not a.privacy.legal_basis or not a.privacy.purpose:
            out.append(f"Route {alias!r} declares no legal basis or purpose "
                       "(models.{alias}.privacy.legal_basis / purpose).".replace(
                           "{alias}", alias))
        if mode != "allow" and not entities & set(NER_ENTITIES):
            out.append(f"Route {alias!r} does not detect names (PERSON is not among its "
                       "entities): names reach the provider as written.")
        d = a.privacy.disclosure or ps.disclosure
        if a.kind == "chat" and not d.header and not d.prefix:
            out.append(f"Route {alias!r} does not disclose that answers are AI-generated.")
    if ps.retention.usage_ttl_days is None:
        out.append("Usage rows are kept forever (privacy.retention.usage_ttl_days is not set).")
    return out


def _bars(title: str, data: Counter[str], colour: str = "#3566a8") -> str:
    """A horizontal bar chart as inline SVG."""
    items = data.most_common(12)
    if not items:
        return f"<p><em>{html.escape(title)}: nothing recorded.</em></p>"
    top = max(n for _, n in items) or 1
    h = 24 * len(items) + 30
    rows = []
    for i, (label, n) in enumerate(items):
        y = 26 + 24 * i
        w = max(2, int(360 * n / top))
        rows.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(label)}</text>'
                    f'<rect x="230" y="{y}" width="{w}" height="18" fill="{colour}"/>'
                    f'<text x="{236 + w}" y="{y + 13}" font-size="12">{n}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="660" height="{h}" role="img" '
            f'aria-label="{html.escape(title)}"><text x="0" y="14" font-size="13" '
            f'font-weight="bold">{html.escape(title)}</text>{"".join(rows)}</svg>')


def _yn(v: bool) -> str:
    return "yes" if v else "no"


def sections(settings: Settings, traffic: Traffic, since_days: float
             ) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by both renderings."""
    ps = settings.privacy
    used_by: dict[str, list[str]] = defaultdict(list)
    for alias, a in settings.models.items():
        for t in a.targets:
            used_by[t.provider].append(alias)
    providers = [[n, p.type, _yn(p.compliance.dpa), _yn(p.compliance.baa),
                  _yn(p.compliance.trains_on_data),
                  str(p.compliance.retention_days) if p.compliance.retention_days is not None
                  else "not declared", ", ".join(p.compliance.regions) or "-",
                  ", ".join(sorted(set(used_by[n]))) or "-"]
                 for n, p in settings.providers.items()]
    routes = []
    for alias, a in settings.models.items():
        entities = a.privacy.entities if a.privacy.entities is not None else ps.entities
        actions = {**ps.actions, **a.privacy.actions}
        store = a.privacy.store_bodies if a.privacy.store_bodies is not None \
            else ps.retention.store_bodies
        routes.append([alias, ", ".join(t.target for t in a.targets),
                       a.guards.pii or settings.guards.pii,
                       ", ".join(f"{k}: {v}" for k, v in sorted(actions.items())) or "-",
                       ", ".join(entities), _yn(store), a.privacy.legal_basis or "NOT DECLARED",
                       a.privacy.purpose or "NOT DECLARED"])
    seen = []
    for alias in settings.models:
        classes = traffic.classes[alias]
        seen.append([alias, str(traffic.usage[alias]), str(traffic.requests[alias]),
                     ", ".join(f"{c}: {n}" for c, n in sorted(classes.items())) or "-",
                     ", ".join(f"{k}: {n}" for k, n in traffic.actions[alias].most_common())
                     or "-"])
    received = [[target, ", ".join(f"{k}: {n}" for k, n in c.most_common())]
                for target, c in sorted(traffic.received.items())]
    r = ps.retention
    retention = [
        ["prompt and answer bodies", "stored after minimisation for "
         f"{r.bodies_ttl_s / 3600:g} h" if r.store_bodies else
         "not stored (aliases may opt in: models.X.privacy.store_bodies)"],
        ["usage rows", f"{r.usage_ttl_days:g} days" if r.usage_ttl_days else "kept forever"],
        ["privacy events (counts only)", f"{r.events_ttl_days:g} days"],
        ["cache entries", "; ".join(f"{n}: {a.cache.ttl_s:g} s (+{a.cache.stale_ttl_s:g} s "
                                    "stale)" for n, a in settings.models.items()
                                    if a.cache.enabled != "off") or "-"],
        ["purge runs every", f"{r.purge_interval_s:g} s"],
    ]
    return [
        ("Providers (processors)", ["provider", "type", "DPA", "BAA", "trains on data",
                                    "retention (days)", "regions", "routes"], providers),
        ("Routes and what they do with personal data",
         ["route", "targets", "default action", "actions", "detected", "bodies stored",
          "legal basis", "purpose"], routes),
        (f"Data classes seen (last {since_days:g} days)",
         ["route", "requests", "with personal data", "data classes", "entity → action"], seen),
        ("What each provider received after minimisation", ["target", "entities"], received),
        ("Retention", ["what", "kept"], retention),
    ]


def markdown(settings: Settings, traffic: Traffic, since_days: float) -> str:
    found = gaps(settings, traffic)
    out = ["# Privacy impact assessment", "",
           f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by Bastion from "
           f"its configuration and the traffic of the last {since_days:g} days.", "",
           "## Gaps", ""]
    out += [f"- **GAP:** {g}" for g in found] or ["No gaps found."]
    for title, head, rows in sections(settings, traffic, since_days):
        out += ["", f"## {title}", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def html_page(settings: Settings, traffic: Traffic, since_days: float) -> str:
    found = gaps(settings, traffic)
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<title>Privacy impact assessment</title><style>",
             "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}",
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;",
             "padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}",
             ".gap{color:#b00020;font-weight:bold}</style></head><body>",
             "<h1>Privacy impact assessment</h1>",
             f"<p>Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from the "
             f"configuration and the traffic of the last {since_days:g} days.</p><h2>Gaps</h2>"]
    if found:
        parts.append("<ul>" + "".join(f"<li class='gap'>{html.escape(g)}</li>" for g in found)
                     + "</ul>")
    else:
        parts.append("<p>No gaps found.</p>")
    parts.append(_bars("Data classes seen", traffic.class_totals, "#b35900"))
    actions: Counter[str] = Counter()
    for c in traffic.actions.values():
        actions.update(c)
    parts.append(_bars("Entities and what was done", actions))
    parts.append(_bars("Requests with personal data per route", traffic.requests, "#2e7d32"))
    for title, head, rows in sections(settings, traffic, since_days):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
        for r in rows:
            cells = "".join(
                f"<td{' class=gap' if c in ('NOT DECLARED', 'not declared') else ''}>"
                f"{html.escape(c)}</td>" for c in r)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


async def build_report(settings: Settings, db: SQL, since_days: float) -> tuple[str, str]:
    """(Markdown, HTML) for ``settings`` and the traffic recorded in ``db``."""
    traffic = await read_traffic(db, time.time() - since_days * 86400)
    return markdown(settings, traffic, since_days), html_page(settings, traffic, since_days)


__all__ = ["build_report", "gaps", "read_traffic"]
