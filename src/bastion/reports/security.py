"""What the guards did, from the usage log: counts and labels, never text or values.

``GET /admin/stats/security`` and the dashboard's security page show:

* **refusals by code**: requests the gateway refused (4xx) per stable ``error.code``
  (``prompt_injection_detected``, ``pii_blocked``, ``no_compliant_provider``,
  ``content_filtered``, ``rate_limit_exceeded``, …) with the alias; provider failures
  (5xx) are the providers page's business;
* **guard decisions**: every decision a guard recorded on a request whose name starts
  with one of :data:`PREFIXES` (``guards_output``, ``injection``, ``pii``,
  ``compliance``…), counted per label. A new guard that records its decisions under
  such a name appears here without any change to this module.

Labels come from the decisions' *shapes*, never their numbers: a string value is a
label, a list gives one label per item, a mapping gives ``name`` for integer counts
(``{"EMAIL:pseudonymize": 2}`` counts 2) and ``name=value`` for strings and lists of
strings; scores and other floats are left out. A label that does not look like a
label (too long, unusual characters, long digit runs, an ``@``) is shown as
``(other)``, so a guard that recorded a value by mistake does not leak it here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from bastion.core.offload import run_bounded
from bastion.reports.stats import Window
from bastion.stores.base import SQL

PREFIXES = ("guards", "injection", "pii", "privacy", "compliance", "moderation",
            "firewall", "skipped_noncompliant")
_LABEL = re.compile(r"^[A-Za-z0-9_.:=/+\- ]{1,80}$")
_DIGITS = re.compile(r"\d{5,}")
OTHER = "(other)"
_ROWS_MAX = 200_000


def safe_label(text: str) -> str:
    return text if _LABEL.match(text) and not _DIGITS.search(text) else OTHER


def labels(value: Any) -> list[tuple[str, int]]:
    """The (label, count) pairs of one decision's value (see the module docstring)."""
    if isinstance(value, bool):
        return [(str(value).lower(), 1)]
    if isinstance(value, str):
        return [(safe_label(value), 1)]
    if isinstance(value, int | float):
        return [("", 1)]
    if isinstance(value, list):
        return [(safe_label(v), 1) for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        out: list[tuple[str, int]] = []
        for k, v in value.items():
            name = safe_label(str(k))
            if isinstance(v, bool):
                out.append((f"{name}={str(v).lower()}", 1))
            elif isinstance(v, int):
                out.append((name, v))
            elif isinstance(v, str):
                out.append((safe_label(f"{name}={v}"), 1))
            elif isinstance(v, list):
                out += [(safe_label(f"{name}={x}"), 1) for x in v if isinstance(x, str)]
        return out
    return []


def decoded(raw: str) -> dict[str, Any]:
    """A usage row's decisions (``{}`` when unreadable)."""
    try:
        decisions = json.loads(raw)
    except ValueError:
        return {}
    return decisions if isinstance(decisions, dict) else {}


def _tally(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for raw, alias, n in rows:
        decisions = decoded(raw)
        for name, value in decisions.items():
            if not str(name).startswith(PREFIXES):
                continue
            for label, k in labels(value):
                counts[(str(name), label, alias)] += k * int(n)
    return [{"decision": d, "label": lbl, "alias": a, "count": c}
            for (d, lbl, a), c in counts.most_common()]


async def security(db: SQL, w: Window) -> dict[str, Any]:
    codes = await db.sql_fetch(
        "SELECT error_code, alias, status, COUNT(*) FROM usage WHERE ts >= ? AND ts < ? "
        "AND status >= 400 AND status < 499 AND error_code IS NOT NULL "
        "GROUP BY error_code, alias, status "
        "ORDER BY 4 DESC", w.start, w.end)
    like = " OR ".join("decisions LIKE ?" for _ in PREFIXES)
    rows = await db.sql_fetch(
        f"SELECT decisions, alias, COUNT(*) FROM usage WHERE ts >= ? AND ts < ? "  # noqa: S608
        f"AND decisions IS NOT NULL AND ({like}) GROUP BY decisions, alias LIMIT ?",
        w.start, w.end, *(f'%"{p}%' for p in PREFIXES), _ROWS_MAX)
    decided = await run_bounded(sum(len(r[0]) for r in rows), _tally, rows)
    return {**w.as_dict(),
            "refusals": [{"code": r[0], "alias": r[1], "status": int(r[2]),
                          "count": int(r[3])} for r in codes],
            "decisions": decided}
