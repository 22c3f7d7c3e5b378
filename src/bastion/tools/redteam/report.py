"""The run's summary: per-category attack success and the benign false-refusal rate,
as a terminal table, a JSON document and a self-contained HTML page with a bar chart."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bastion.tools.redteam.runner import Result


@dataclass(frozen=True, slots=True)
class Row:
    category: str
    total: int
    succeeded: int  # attacks: attack worked; benign: wrongly refused or blocked
    blocked: int
    refused: int
    errors: int

    @property
    def rate(self) -> float:
        judged = self.total - self.errors
        return self.succeeded / judged if judged else 0.0


def summarise(results: Sequence[Result]) -> tuple[list[Row], Row | None]:
    """Attack rows by category (sorted) and the benign row (false refusals)."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.case.category].append(r)
    rows: list[Row] = []
    benign: Row | None = None
    for cat in sorted(groups):
        rs = groups[cat]
        blocked = sum(r.verdict.outcome == "blocked" for r in rs)
        refused = sum(r.verdict.outcome == "refused" for r in rs)
        errors = sum(r.verdict.outcome == "error" for r in rs)
        if cat == "benign":
            benign = Row(cat, len(rs), blocked + refused, blocked, refused, errors)
        else:
            rows.append(Row(cat, len(rs), sum(r.verdict.success for r in rs), blocked,
                            refused, errors))
    return rows, benign


def table(rows: list[Row], benign: Row | None) -> str:
    head = f"{'category':28} {'cases':>5} {'success':>8} {'rate':>7} {'blocked':>8} " \
           f"{'refused':>8} {'errors':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.category:28} {r.total:5d} {r.succeeded:8d} {r.rate:7.1%} "
                     f"{r.blocked:8d} {r.refused:8d} {r.errors:6d}")
    total = sum(r.total - r.errors for r in rows)
    won = sum(r.succeeded for r in rows)
    lines.append("-" * len(head))
    lines.append(f"{'all attacks':28} {sum(r.total for r in rows):5d} {won:8d} "
                 f"{(won / total if total else 0.0):7.1%}")
    if benign is not None:
        lines.append(f"{'benign (false refusals)':28} {benign.total:5d} {benign.succeeded:8d} "
                     f"{benign.rate:7.1%} {benign.blocked:8d} {benign.refused:8d} "
                     f"{benign.errors:6d}")
    return "\n".join(lines)


def as_json(results: Sequence[Result], rows: list[Row], benign: Row | None,
            meta: dict[str, Any]) -> str:
    def row(r: Row) -> dict[str, Any]:
        return {"category": r.category, "cases": r.total, "succeeded": r.succeeded,
                "rate": round(r.rate, 4), "blocked": r.blocked, "refused": r.refused,
                "errors": r.errors}

    doc = {
        "meta": meta,
        "attack_success": [row(r) for r in rows],
        "false_refusals": row(benign) if benign is not None else None,
        "cases": [{"id": r.case.id, "category": r.case.category, "source": r.case.source,
                   "outcome": r.verdict.outcome, "success": r.verdict.success,
                   "detail": r.verdict.detail, "status": r.status,
                   "latency_ms": round(r.latency_ms, 1)} for r in results],
    }
    return json.dumps(doc, indent=2)


def _chart(rows: list[Row], benign: Row | None) -> str:
    bars = [(r.category, r.rate, "#c0392b") for r in rows]
    if benign is not None:
        bars.append(("benign: false refusals", benign.rate, "#2471a3"))
    bar_h, gap, label_w, plot_w = 22, 8, 220, 420
    height = len(bars) * (bar_h + gap) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 70}" '
             f'height="{height}" role="img" aria-label="attack success by category">']
    for i, (name, rate, colour) in enumerate(bars):
        y = i * (bar_h + gap) + 10
        w = max(1, int(rate * plot_w))
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" '
                     f'font-size="13">{html.escape(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" '
                     f'fill="{colour}"/><text x="{label_w + w + 6}" y="{y + 16}" '
                     f'font-size="13">{rate:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


def as_html(results: Sequence[Result], rows: list[Row], benign: Row | None,
            meta: dict[str, Any]) -> str:
    esc = html.escape
    trs = "".join(
        f"<tr><td>{esc(r.category)}</td><td>{r.total}</td><td>{r.succeeded}</td>"
        f"<td>{r.rate:.1%}</td><td>{r.blocked}</td><td>{r.refused}</td><td>{r.errors}</td></tr>"
        for r in ([*rows, benign] if benign is not None else rows))
    cases = "".join(
        f"<tr class='{'bad' if r.verdict.success and r.case.kind == 'attack' else ''}'>"
        f"<td>{esc(r.case.id)}</td><td>{esc(r.case.category)}</td><td>{esc(r.case.source)}</td>"
        f"<td>{esc(r.verdict.outcome)}</td><td>{'yes' if r.verdict.success else 'no'}</td>"
        f"<td>{esc(r.verdict.detail)}</td></tr>" for r in results)
    meta_html = " · ".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in meta.items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Bastion red-team report</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:4px 8px}}
th{{background:#f4f4f4}}tr.bad td{{background:#fdecea}}.meta{{color:#666}}
</style></head><body><h1>Bastion red-team report</h1><p class="meta">{meta_html}</p>
<h2>Attack success by category</h2>{_chart(rows, benign)}
<table><tr><th>category</th><th>cases</th><th>succeeded / falsely refused</th><th>rate</th>
<th>blocked by gateway</th><th>refused by model</th><th>errors</th></tr>{trs}</table>
<h2>Cases</h2><table><tr><th>id</th><th>category</th><th>source</th><th>outcome</th>
<th>success</th><th>detail</th></tr>{cases}</table></body></html>"""
