"""The dashboard's numbers, from the usage log: over time, per alias/provider/key.

Every figure a dashboard page shows comes from one of these functions, and the
admin API serves the same functions (``GET /admin/stats/overview``,
``/admin/stats/providers``, ``/admin/stats/security``), so any number on a page can
be reproduced with an admin call.

* Ranges: ``1h``, ``24h``, ``7d``, ``30d`` (:data:`RANGES`), each cut into buckets
  (1 min, 30 min, 6 h, 1 day).
* Latency percentiles are exact (nearest rank: the value at rank ⌈p·n⌉ of the sorted
  latencies), computed by the database with window functions.
* ``errors`` counts requests answered with a status of 400 or more (202 review holds
  are not errors).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bastion.core.errors import InvalidRequest
from bastion.stores.base import SQL

#: range name -> (seconds, bucket seconds)
RANGES: dict[str, tuple[int, int]] = {
    "1h": (3600, 60), "24h": (86400, 1800), "7d": (7 * 86400, 6 * 3600),
    "30d": (30 * 86400, 86400),
}


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    start: float
    end: float
    bucket_s: int

    @property
    def buckets(self) -> int:
        return int((self.end - self.start) // self.bucket_s)

    def as_dict(self) -> dict[str, Any]:
        return {"range": self.name, "since": self.start, "until": self.end,
                "bucket_s": self.bucket_s}


def window(name: str | None, now: float | None = None) -> Window:
    """The range ``name`` ending now, aligned to whole buckets."""
    name = name or "24h"
    if name not in RANGES:
        raise InvalidRequest(f"`range` is one of {', '.join(RANGES)}.", param="range")
    span, step = RANGES[name]
    end = ((now or time.time()) // step + 1) * step
    return Window(name, end - span, end, step)


def bucket_expr(w: Window, dialect: str) -> str:
    """The bucket index of a row (numbers of our own, never client text)."""
    inner = f"(ts - {w.start!r}) / {w.bucket_s}"
    return f"CAST(FLOOR({inner}) AS BIGINT)" if dialect == "postgres" else \
        f"CAST({inner} AS INTEGER)"


def _num(v: Any) -> float:
    return float(v or 0)


async def percentiles(db: SQL, w: Window, group: str, ps: tuple[int, ...] = (50, 99)
                      ) -> dict[Any, dict[str, float]]:
    """Nearest-rank latency percentiles (ms) per value of the SQL expression ``group``."""
    ranks = " OR ".join(f"rn = (n * {p} + 99) / 100" for p in ps)
    rows = await db.sql_fetch(
        f"SELECT g, latency_ms, rn, n FROM (SELECT {group} AS g, latency_ms, "  # noqa: S608
        f"ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY latency_ms) AS rn, "
        f"COUNT(*) OVER (PARTITION BY {group}) AS n FROM usage WHERE ts >= ? AND ts < ?) t "
        f"WHERE {ranks}", w.start, w.end)
    out: dict[Any, dict[str, float]] = defaultdict(dict)
    for g, latency, rn, n in rows:
        for p in ps:
            if int(rn) == (int(n) * p + 99) // 100:
                out[g][f"p{p}_ms"] = round(float(latency), 2)
    return out


_SUMS = ("COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), "
         "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
         "COALESCE(SUM(cost_usd), 0)")


def _sums(r: tuple[Any, ...], at: int = 1) -> dict[str, Any]:
    return {"requests": int(r[at]), "errors": int(r[at + 1] or 0),
            "prompt_tokens": int(r[at + 2]), "completion_tokens": int(r[at + 3]),
            "cost_usd": round(_num(r[at + 4]), 8)}


async def grouped(db: SQL, w: Window, expr: str, limit: int = 50) -> list[dict[str, Any]]:
    """Totals and latency percentiles per value of ``expr``, most requests first."""
    rows = await db.sql_fetch(
        f"SELECT {expr}, {_SUMS} FROM usage WHERE ts >= ? AND ts < ? "  # noqa: S608
        f"GROUP BY {expr} ORDER BY 2 DESC LIMIT ?", w.start, w.end, limit)
    pct = await percentiles(db, w, expr)
    return [{"name": r[0], **_sums(r), **pct.get(r[0], {})} for r in rows]


async def overview(db: SQL, w: Window, key_names: dict[str, str] | None = None
                   ) -> dict[str, Any]:
    """Series per bucket, totals, and the breakdowns per alias, provider and key."""
    b = bucket_expr(w, db.dialect)
    rows = await db.sql_fetch(
        f"SELECT {b}, {_SUMS} FROM usage WHERE ts >= ? AND ts < ? "  # noqa: S608
        f"GROUP BY {b}", w.start, w.end)
    by_bucket = {int(r[0]): _sums(r) for r in rows}
    pct = await percentiles(db, w, b)
    series = []
    for i in range(w.buckets):
        s = by_bucket.get(i, _sums((0, 0, 0, 0, 0, 0)))
        series.append({"t": w.start + i * w.bucket_s, **s, "p50_ms": pct.get(i, {}).get(
            "p50_ms"), "p99_ms": pct.get(i, {}).get("p99_ms")})
    total_rows = await db.sql_fetch(
        f"SELECT 0, {_SUMS} FROM usage WHERE ts >= ? AND ts < ?",  # noqa: S608
        w.start, w.end)
    totals = {**_sums(total_rows[0]), **(await percentiles(db, w, "0")).get(0, {})}
    provider = ("split_part(target, '/', 1)" if db.dialect == "postgres"
                else "substr(target, 1, instr(target, '/') - 1)")
    keys = await grouped(db, w, "key_id")
    for k in keys:
        k["key_name"] = (key_names or {}).get(k["name"] or "")
    return {**w.as_dict(), "totals": totals, "series": series,
            "by_alias": await grouped(db, w, "alias"),
            "by_provider": await grouped(db, w, provider),
            "by_key": keys}
