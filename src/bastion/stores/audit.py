"""The audit log: an append-only record of what admins (and the gateway itself) did.

One row per action: when, who (an actor id such as ``account:alice``,
``master-key`` or ``cli``), what (a dotted action name such as ``key.revoke``,
``user.erase``, ``review.decide``, ``config.reload``), on what (a key id, a user
id, a review id), from where (a client address or ``cli``), and a small JSON
``detail``. Rows are never updated (the database refuses it); they are only
removed by retention (:meth:`AuditLog.purge_before`).

What never goes in: secrets (keys, passwords, tokens) and personal data beyond
the actor's and the target's ids. A data-subject erasure is recorded as "user X
erased, N rows" — the id the request named, not what was erased. Callers pass
``detail`` values they would be content to see in a log line.

Built on the database's :class:`~bastion.stores.base.SQL` interface: one
implementation for SQLite (in memory too) and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from bastion.stores.base import SQL

_COLS = "id, ts, actor, action, target, source, detail"


@dataclass(slots=True)
class AuditEntry:
    actor: str
    action: str
    target: str | None = None
    source: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0  # 0: now, when appended
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ts": self.ts, "actor": self.actor, "action": self.action,
                "target": self.target, "source": self.source, "detail": self.detail}


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    detail = row[6]
    if isinstance(detail, str):
        detail = json.loads(detail or "{}")
    return AuditEntry(id=int(row[0]), ts=float(row[1]), actor=row[2], action=row[3],
                      target=row[4], source=row[5], detail=dict(detail or {}))


class AuditLog:
    """Append and read audit entries (see the module docstring for what goes in)."""

    def __init__(self, db: SQL) -> None:
        self.db = db

    async def append(self, entry: AuditEntry) -> None:
        ts = entry.ts or time.time()
        await self.db.sql_execute(
            "INSERT INTO audit_log(ts, actor, action, target, source, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ts, entry.actor, entry.action, entry.target, entry.source,
            json.dumps(entry.detail, separators=(",", ":"), default=str))

    async def record(self, actor: str, action: str, target: str | None = None, *,
                     source: str | None = None, **detail: Any) -> None:
        """Shorthand for :meth:`append`."""
        await self.append(AuditEntry(actor, action, target, source, detail))

    async def list(self, *, since: float | None = None, until: float | None = None,
                   actor: str | None = None, action: str | None = None,
                   limit: int = 1000) -> list[AuditEntry]:
        """Entries oldest first, filtered; ``action`` matches a prefix (``key.``)."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if until is not None:
            where.append("ts < ?")
            args.append(until)
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if action is not None:
            where.append("action LIKE ? ESCAPE '\\'")
            args.append(action.replace("%", "").replace("_", "\\_") + "%")
        rows = await self.db.sql_fetch(
            f"SELECT {_COLS} FROM audit_log WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY ts, id LIMIT ?", *args, max(1, min(limit, 100_000)))
        return [_entry(r) for r in rows]

    async def purge_before(self, ts: float) -> int:
        """Remove entries older than ``ts`` (retention); the number removed."""
        return await self.db.sql_execute("DELETE FROM audit_log WHERE ts < ?", ts)
