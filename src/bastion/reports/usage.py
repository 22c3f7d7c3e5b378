"""Cost and usage reports from the usage log: grouped totals, as rows or CSV.

``usage_report(db, group_by=["key", "day"], since=…, until=…)`` groups the usage
rows of a time range by any of :data:`DIMENSIONS` and sums requests, errors,
tokens and spend. The admin API (``GET /admin/reports/usage``), the dashboard's
reports page and ``bastion usage --csv`` all call it, so their numbers agree.

Dimensions: ``key`` (virtual key id), ``user``, ``team``, ``alias``, ``model`` (the
``provider/model`` target that answered), ``provider`` and ``day`` (UTC date).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bastion.core.errors import InvalidRequest
from bastion.stores.base import SQL

DIMENSIONS = ("key", "user", "team", "alias", "model", "provider", "day")
METRICS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_usd")


def column(dim: str, dialect: str) -> str:
    """The SQL expression of a dimension on ``dialect`` (never from client text)."""
    pg = dialect == "postgres"
    return {
        "key": "key_id",
        "user": "user_id" if pg else '"user"',
        "team": "team",
        "alias": "alias",
        "model": "target",
        "provider": ("split_part(target, '/', 1)" if pg
                     else "substr(target, 1, instr(target, '/') - 1)"),
        "day": ("to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if pg
                else "date(ts, 'unixepoch')"),
    }[dim]


def parse_group_by(text: str | Iterable[str] | None, default: Sequence[str] = ("key",)
                   ) -> list[str]:
    """``"key,day"`` (or a list) → ``["key", "day"]``, each a known dimension."""
    if text is None:
        return list(default)
    parts = text.split(",") if isinstance(text, str) else list(text)
    dims = [p.strip() for p in parts if p.strip()]
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad or not dims or len(set(dims)) != len(dims):
        raise InvalidRequest(f"`group_by` is a comma-separated list of {', '.join(DIMENSIONS)}"
                             " (each at most once).", param="group_by")
    return dims


@dataclass(frozen=True, slots=True)
class Report:
    group_by: list[str]
    since: float | None
    until: float | None
    rows: list[dict[str, Any]]

    def totals(self) -> dict[str, Any]:
        out: dict[str, Any] = {m: 0 for m in METRICS}
        for r in self.rows:
            for m in METRICS:
                out[m] += r[m]
        out["cost_usd"] = round(out["cost_usd"], 6)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"group_by": self.group_by, "since": self.since, "until": self.until,
                "data": self.rows, "totals": self.totals()}


def time_filter(since: float | None, until: float | None) -> tuple[str, list[Any]]:
    where, args = ["1 = 1"], []
    if since is not None:
        where.append("ts >= ?")
        args.append(since)
    if until is not None:
        where.append("ts < ?")
        args.append(until)
    return " AND ".join(where), args


async def usage_report(db: SQL, group_by: Sequence[str], since: float | None = None,
                       until: float | None = None, limit: int = 10_000) -> Report:
    """Totals per group, biggest spend first (see the module docstring)."""
    dims = parse_group_by(list(group_by))
    cols = [column(d, db.dialect) for d in dims]
    where, args = time_filter(since, until)
    sql = (f"SELECT {', '.join(cols)}, COUNT(*), "  # noqa: S608 - columns from a fixed table
           "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), COALESCE(SUM(prompt_tokens), 0), "
           "COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_usd), 0) "
           f"FROM usage WHERE {where} GROUP BY {', '.join(cols)} "
           f"ORDER BY {len(dims) + 5} DESC, {len(dims) + 1} DESC LIMIT ?")
    rows = await db.sql_fetch(sql, *args, max(1, min(limit, 100_000)))
    out = []
    for r in rows:
        n = len(dims)
        rec: dict[str, Any] = {d: r[i] or None for i, d in enumerate(dims)}
        rec.update(requests=int(r[n]), errors=int(r[n + 1] or 0), prompt_tokens=int(r[n + 2]),
                   completion_tokens=int(r[n + 3]), cost_usd=round(float(r[n + 4]), 8))
        out.append(rec)
    if "day" in dims:  # a day report reads best in date order
        out.sort(key=lambda x: (str(x["day"]), -x["cost_usd"]))
    return Report(dims, since, until, out)


def to_csv(report: Report) -> str:
    """The report as CSV: one header row, one row per group; cells that a spreadsheet
    would run as formulas are quoted."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*report.group_by, *METRICS])
    for r in report.rows:
        cells = [r[d] if r[d] is not None else "" for d in report.group_by]
        cells = [f"'{c}" if isinstance(c, str) and c[:1] in "=+-@" else c for c in cells]
        w.writerow([*cells, *(f"{r[m]:.8f}" if m == "cost_usd" else r[m] for m in METRICS)])
    return buf.getvalue()
