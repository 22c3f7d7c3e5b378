"""What cost-aware routing and context trimming did, from the usage log.

``GET /admin/stats/routing`` and the dashboard's overview page show:

* **auto routing**: requests to each ``auto`` alias per alias picked, choice and reason
  (``decisions.auto_route``, :mod:`bastion.steps.auto_route`), with their spend;
* **context trimming**: requests whose oldest turns were dropped or summarised per alias
  and mode, and the prompt tokens removed (``decisions.trim``, :mod:`bastion.steps.trim`).

Names and reasons come from the configuration and fixed lists, shown through the same
label check as the security page's; never any request text.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bastion.core.offload import run_bounded
from bastion.reports.security import decoded, safe_label
from bastion.reports.stats import Window
from bastion.stores.base import SQL

_ROWS_MAX = 200_000


def _tally(rows: list[tuple[Any, ...]]) -> dict[str, list[dict[str, Any]]]:
    routed: Counter[tuple[str, ...]] = Counter()
    spend: dict[tuple[str, ...], float] = {}
    trimmed: Counter[tuple[str, str]] = Counter()
    removed: Counter[tuple[str, str]] = Counter()
    for raw, alias, n, cost in rows:
        decisions = decoded(raw)
        auto, trim = decisions.get("auto_route"), decisions.get("trim")
        if isinstance(auto, dict):
            key = tuple(safe_label(str(auto.get(k, ""))) for k in ("alias", "to", "choice",
                                                                   "reason"))
            routed[key] += int(n)
            spend[key] = spend.get(key, 0.0) + float(cost or 0.0)
        if isinstance(trim, dict):
            where = (safe_label(str(alias)), safe_label(str(trim.get("mode", ""))))
            trimmed[where] += int(n)
            before, after = trim.get("prompt_tokens"), trim.get("kept_tokens")
            if isinstance(before, int) and isinstance(after, int):
                removed[where] += (before - after) * int(n)
    return {
        "auto_route": [{"alias": k[0], "to": k[1], "choice": k[2], "reason": k[3],
                        "requests": c, "cost_usd": round(spend[k], 8)}
                       for k, c in routed.most_common()],
        "trim": [{"alias": k[0], "mode": k[1], "requests": c, "tokens_removed": removed[k]}
                 for k, c in trimmed.most_common()],
    }


async def routing(db: SQL, w: Window) -> dict[str, Any]:
    rows = await db.sql_fetch(
        "SELECT decisions, alias, COUNT(*), SUM(cost_usd) FROM usage WHERE ts >= ? AND ts < ? "
        "AND decisions IS NOT NULL AND (decisions LIKE ? OR decisions LIKE ?) "
        "GROUP BY decisions, alias LIMIT ?",
        w.start, w.end, '%"auto_route"%', '%"trim"%', _ROWS_MAX)
    tally = await run_bounded(sum(len(r[0]) for r in rows), _tally, rows)
    return {**w.as_dict(), **tally}
