"""The human review queue: answers held until a person approves, edits or rejects them.

One row per held answer (table ``review_items``, migration 6), on the database's
:class:`~bastion.stores.base.SQL` interface, so every replica sees the same queue
(PostgreSQL) and one process needs nothing else (SQLite). A row holds:

* who asked (key id, user, team: the client that may poll it), the alias, the
  client's dialect and whether it asked for a stream;
* why it was held (``reason``: ``low_confidence`` or ``always``), the confidence
  score and its signals;
* the conversation's last turns (``prompt``: role and text) for the reviewer, the
  canonical answer (``answer``, JSON), the same as reviewers see it (``answer_shown``:
  values a privacy step marked personal are masked there and in ``prompt``) and what
  the client gets (``final_answer``: the answer as approved or edited);
* the decision: ``status`` (``pending`` → ``approved`` | ``edited`` | ``rejected`` |
  ``expired``), who (``decided_by``, an actor id) and when (``decided_at``), and the
  reviewer's ``note``.

A decision is one conditional ``UPDATE … WHERE status = 'pending'``: two reviewers
deciding at once cannot both win. Pending rows past ``expires_at`` count as
expired. Text (prompt and answers) is erased ``ttl_s`` after the row's last change
(:meth:`ReviewQueue.purge`); the decision's metadata stays.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.stores.base import SQL

Status = Literal["pending", "approved", "edited", "rejected", "expired"]
DECIDED: tuple[Status, ...] = ("approved", "edited", "rejected")
_COLS = ("id, created_at, updated_at, expires_at, purge_after, status, reason, alias, dialect, "
         "stream, request_id, key_id, user_id, team, confidence, signals, prompt, answer, "
         "answer_shown, final_answer, decided_by, decided_at, note")


@dataclass(slots=True)
class ReviewItem:
    id: str
    created_at: float
    expires_at: float
    purge_after: float
    status: Status
    reason: str
    alias: str
    dialect: str
    stream: bool
    request_id: str
    key_id: str | None = None
    user: str | None = None
    team: str | None = None
    confidence: float | None = None
    signals: list[str] = field(default_factory=list)
    prompt: list[dict[str, str]] | None = None  # [{"role", "text"}], the last turns
    answer: str | None = None  # canonical ChatResponse JSON, as the client will get it
    answer_shown: str | None = None  # the same for reviewers: marked personal data masked
    final_answer: str | None = None  # what the client gets once approved or edited
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    updated_at: float = 0.0

    def effective_status(self, now: float | None = None) -> Status:
        """``expired`` for a pending item past its time, else the stored status."""
        if self.status == "pending" and (now or time.time()) >= self.expires_at:
            return "expired"
        return self.status

    def summary(self) -> dict[str, Any]:
        """The item without its text (lists, the API's index)."""
        return {"id": self.id, "status": self.effective_status(), "reason": self.reason,
                "alias": self.alias, "dialect": self.dialect, "stream": self.stream,
                "request_id": self.request_id, "key_id": self.key_id, "user": self.user,
                "team": self.team, "confidence": self.confidence, "signals": self.signals,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "decided_by": self.decided_by, "decided_at": self.decided_at,
                "note": self.note}


def new_review_id() -> str:
    return "rev_" + secrets.token_urlsafe(18)


def _item(row: tuple[Any, ...]) -> ReviewItem:
    return ReviewItem(
        id=row[0], created_at=float(row[1]), updated_at=float(row[2]),
        expires_at=float(row[3]), purge_after=float(row[4]), status=row[5], reason=row[6],
        alias=row[7], dialect=row[8], stream=bool(row[9]), request_id=row[10],
        key_id=row[11], user=row[12], team=row[13], confidence=row[14],
        signals=list(json.loads(row[15] or "[]")),
        prompt=json.loads(row[16]) if row[16] else None, answer=row[17],
        answer_shown=row[18], final_answer=row[19], decided_by=row[20], decided_at=row[21],
        note=row[22])


class ReviewQueue:
    """Held answers on the database (see the module docstring)."""

    def __init__(self, db: SQL) -> None:
        self.db = db

    async def add(self, item: ReviewItem) -> None:
        item.updated_at = item.updated_at or item.created_at
        await self.db.sql_execute(
            f"INSERT INTO review_items({_COLS}) VALUES ({', '.join('?' * 23)})",  # noqa: S608
            item.id, item.created_at, item.updated_at, item.expires_at, item.purge_after,
            item.status, item.reason, item.alias, item.dialect,
            item.stream if self.db.dialect == "postgres" else int(item.stream),
            item.request_id, item.key_id, item.user, item.team, item.confidence,
            json.dumps(item.signals), json.dumps(item.prompt) if item.prompt else None,
            item.answer, item.answer_shown, item.final_answer, item.decided_by,
            item.decided_at, item.note)

    async def get(self, item_id: str) -> ReviewItem | None:
        rows = await self.db.sql_fetch(
            f"SELECT {_COLS} FROM review_items WHERE id = ?", item_id[:64])  # noqa: S608
        return _item(rows[0]) if rows else None

    async def list(self, *, status: str | None = "pending", alias: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[ReviewItem]:
        """Items newest first; ``status`` ``pending`` lists only those still waiting
        (not expired), ``expired`` those past their time, ``None`` every one."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        now = time.time()
        if status == "pending":
            where.append("status = 'pending' AND expires_at > ?")
            args.append(now)
        elif status == "expired":
            where.append("(status = 'expired' OR (status = 'pending' AND expires_at <= ?))")
            args.append(now)
        elif status is not None:
            where.append("status = ?")
            args.append(status)
        if alias is not None:
            where.append("alias = ?")
            args.append(alias)
        rows = await self.db.sql_fetch(
            f"SELECT {_COLS} FROM review_items WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY created_at DESC, id LIMIT ? OFFSET ?", *args,
            max(1, min(limit, 1000)), max(0, offset))
        return [_item(r) for r in rows]

    async def count_pending(self) -> int:
        rows = await self.db.sql_fetch(
            "SELECT COUNT(*) FROM review_items WHERE status = 'pending' AND expires_at > ?",
            time.time())
        return int(rows[0][0])

    async def decide(self, item_id: str, status: Status, *, actor: str,
                     final_answer: str | None, note: str | None, ttl_s: float) -> bool:
        """Record a decision on a pending, unexpired item; False when it was not pending
        (decided already, expired or unknown)."""
        now = time.time()
        n = await self.db.sql_execute(
            "UPDATE review_items SET status = ?, final_answer = ?, decided_by = ?, "
            "decided_at = ?, note = ?, updated_at = ?, purge_after = ? "
            "WHERE id = ? AND status = 'pending' AND expires_at > ?",
            status, final_answer, actor, now, note, now, now + ttl_s, item_id, now)
        return n > 0

    async def purge(self, now: float | None = None) -> int:
        """Mark pending items past their time expired, and erase the text of items past
        ``purge_after``; the number of items whose text was erased."""
        t = now or time.time()
        await self.db.sql_execute(
            "UPDATE review_items SET status = 'expired', updated_at = ? "
            "WHERE status = 'pending' AND expires_at <= ?", t, t)
        return await self.db.sql_execute(
            "UPDATE review_items SET prompt = NULL, answer = NULL, answer_shown = NULL, "
            "final_answer = NULL WHERE purge_after <= ? AND (prompt IS NOT NULL OR "
            "answer IS NOT NULL OR final_answer IS NOT NULL)", t)
