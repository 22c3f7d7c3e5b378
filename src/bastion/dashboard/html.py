"""Server-side HTML for the dashboard: escaping, the page frame and small parts.

Every value that reaches a page goes through :func:`esc` (or :func:`attr`); pages
hold no inline script or style (the Content-Security-Policy forbids both): charts
read their numbers from ``<script type="application/json">`` data blocks, which are
never executed, and draw them with the gateway's own ``dashboard.js``.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from bastion.identity.roles import Actor

NAV: tuple[tuple[str, str, str], ...] = (
    ("/ui/", "Overview", "viewer"),
    ("/ui/providers", "Providers", "viewer"),
    ("/ui/security", "Security", "viewer"),
    ("/ui/keys", "Keys", "viewer"),
    ("/ui/review", "Review", "reviewer"),
    ("/ui/reports", "Reports", "viewer"),
)


DASH = "\u2013"  # what an empty cell shows


def link(href: str, text: str, here: bool = False) -> str:
    """A link, marked as the current choice when ``here``."""
    mark = ' class="here"' if here else ""
    return f'<a href="{attr(href)}"{mark}>{esc(text)}</a>'


def esc(value: Any) -> str:
    """Text for an HTML element (``None`` as a dash)."""
    return DASH if value is None else html.escape(str(value), quote=True)


def attr(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def data_block(block_id: str, payload: Any) -> str:
    """Numbers for the chart script; ``</`` cannot end the block early."""
    text = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{attr(block_id)}">{text}</script>'


def when(ts: float | None) -> str:
    if ts is None:
        return DASH
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC"


def money(v: float) -> str:
    return f"${v:,.4f}" if v < 100 else f"${v:,.2f}"


def ms(v: float | None) -> str:
    return DASH if v is None else f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"


def api_hint(path: str) -> str:
    """Where the page's numbers come from: the admin call that gives the same."""
    return f'<p class="api">Same numbers: <code>GET {esc(path)}</code></p>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; cells are HTML already (escape values with :func:`esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">Nothing yet.</td></tr>'
    return f'<table class="{attr(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def cards(items: Iterable[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="label">{esc(k)}</div><div class="value">{v}</div></div>'
        for k, v in items) + "</div>"


def chart(source: str, kind: str, fields: Sequence[str], labels: Sequence[str], title: str,
          unit: str = "") -> str:
    """A chart the script draws from the data block ``source``."""
    return (f'<figure class="chart" data-source="{attr(source)}" data-kind="{attr(kind)}" '
            f'data-fields="{attr(",".join(fields))}" data-labels="{attr(",".join(labels))}" '
            f'data-unit="{attr(unit)}"><figcaption>{esc(title)}</figcaption>'
            '<div class="plot" role="img" aria-label="' + attr(title) + '"></div></figure>')


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{attr(token)}">'


def form(action: str, csrf: str, inner: str, cls: str = "") -> str:
    return (f'<form method="post" action="{attr(action)}" class="{attr(cls)}">'
            f"{csrf_field(csrf)}{inner}</form>")


def flash(message: str | None, kind: str = "ok") -> str:
    return f'<p class="flash {attr(kind)}">{esc(message)}</p>' if message else ""


def page(title: str, body: str, *, actor: Actor | None, csrf: str = "", current: str = "",
         refresh_s: int | None = None) -> str:
    """The whole document: head, navigation (the pages the actor may see), body."""
    nav = ""
    if actor is not None:
        links = "".join(link(href, name, href == current)
                        for href, name, role in NAV if actor.may(role))  # type: ignore[arg-type]
        who = f'{esc(actor.id)} <span class="role">{esc(actor.role)}</span>'
        logout = form("/ui/logout", csrf, '<button type="submit">Sign out</button>', "logout")
        nav = f'<nav>{links}<span class="who">{who}</span>{logout}</nav>'
    refresh = f' data-refresh-s="{int(refresh_s)}"' if refresh_s else ""
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)} · Bastion</title>"
            "<link rel=\"stylesheet\" href=\"/ui/static/dashboard.css\">"
            "<script src=\"/ui/static/dashboard.js\" defer></script></head>"
            f"<body{refresh}><header><a class=\"brand\" href=\"/ui/\">Bastion</a>{nav}</header>"
            f"<main><h1>{esc(title)}</h1>{body}</main></body></html>")
