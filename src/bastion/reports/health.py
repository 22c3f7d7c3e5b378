"""Provider health for the dashboard and ``GET /admin/stats/providers``.

Per configured target (``provider/model``):

* from the usage log over the chosen range (every replica's requests): requests it
  answered, failed attempts (the ``failed`` decisions the route records: errors,
  timeouts, retries and fallbacks included) and their share of all attempts, 429s,
  latency percentiles;
* rate-limit headroom: each configured or tier limit (``rpm``, ``tpm``, ``itpm``,
  ``otpm``; the provider's own ``rpm``/``tpm`` cap all its models) against what the
  usage log holds for the last ``traffic.window_s`` seconds (usage rows are written
  in batches, so the last fraction of a second may be missing);
* this worker's view of the circuit breaker (shared through Redis when configured)
  and of the capacity queue (requests waiting now).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from bastion.reports.stats import Window, percentiles
from bastion.stores.base import SQL

_USED = {"rpm": 0, "tpm": 1, "itpm": 2, "otpm": 3}


async def _recent(db: SQL, since: float) -> dict[str, tuple[int, int, int, int]]:
    """(requests, tokens, input, output) per target since ``since``."""
    rows = await db.sql_fetch(
        "SELECT target, COUNT(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0), "
        "COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) FROM usage "
        "WHERE ts >= ? AND target IS NOT NULL GROUP BY target", since)
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


async def _failed(db: SQL, w: Window) -> Counter[str]:
    """Failed upstream attempts per target, from the route's ``failed`` decisions."""
    rows = await db.sql_fetch(
        "SELECT decisions, COUNT(*) FROM usage WHERE ts >= ? AND ts < ? "
        "AND decisions LIKE ? GROUP BY decisions", w.start, w.end, '%"failed"%')
    out: Counter[str] = Counter()
    for raw, n in rows:
        try:
            failed = json.loads(raw).get("failed")
        except (ValueError, AttributeError):
            continue
        for f in failed if isinstance(failed, list) else []:
            if isinstance(f, dict) and isinstance(f.get("target"), str):
                out[f["target"]] += int(n)
    return out


def headroom(scopes: list[tuple[str, tuple[tuple[str, int], ...]]], target: str,
             recent: dict[str, tuple[int, int, int, int]]) -> list[dict[str, Any]]:
    out = []
    for scope, limits in scopes:
        if scope.startswith("p:"):  # the provider's cap: every model of it together
            prefix = scope[2:] + "/"
            used_all = [v for t, v in recent.items() if t.startswith(prefix)]
        else:
            used_all = [recent.get(target, (0, 0, 0, 0))]
        for name, limit in limits:
            if name not in _USED:
                continue  # per-day limits: not shown against a minute's traffic
            used = sum(v[_USED[name]] for v in used_all)
            out.append({"scope": "provider" if scope.startswith("p:") else "target",
                        "limit": name, "value": limit, "used": used,
                        "headroom": max(0, limit - used),
                        "headroom_pct": round(100 * max(0, limit - used) / limit, 1)})
    return out


async def providers(db: SQL, w: Window, targets: list[str],
                    limits: dict[str, list[tuple[str, tuple[tuple[str, int], ...]]]],
                    breakers: list[dict[str, Any]], queues: dict[str, float],
                    window_s: float) -> dict[str, Any]:
    rows = await db.sql_fetch(
        "SELECT target, COUNT(*), SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) FROM usage "
        "WHERE ts >= ? AND ts < ? AND target IS NOT NULL GROUP BY target", w.start, w.end)
    counts = {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}
    failed = await _failed(db, w)
    pct = await percentiles(db, w, "target")
    recent = await _recent(db, time.time() - window_s)
    board = {b["target"]: b for b in breakers}
    names = list(dict.fromkeys([*targets, *counts, *failed]))
    data = []
    for t in names:
        n, errors, limited = counts.get(t, (0, 0, 0))
        attempts = n + failed[t]
        b = board.get(t, {"state": "closed", "open_for_s": 0.0, "consecutive_failures": 0})
        data.append({
            "target": t, "provider": t.split("/", 1)[0], "requests": n,
            "server_errors": errors, "failed_attempts": failed[t], "rate_limited": limited,
            "error_rate": round(failed[t] / attempts, 4) if attempts else 0.0,
            **pct.get(t, {}), "breaker": b["state"], "open_for_s": b.get("open_for_s", 0.0),
            "consecutive_failures": b.get("consecutive_failures", 0),
            "queue_depth": int(queues.get(t, 0)),
            "headroom": headroom(limits.get(t, []), t, recent)})
    return {**w.as_dict(), "window_s": window_s, "data": data}
