"""Admin actions into the audit log (:mod:`bastion.stores.audit`), and its export.

Every admin route that changes something, or hands out personal data, declares an
action name (``key.create``, ``user.erase``, …); the admin guard
(:mod:`bastion.identity.admins`) then appends one entry per request, whatever its
outcome: the actor's id, the time, the client's address, the target, the HTTP
status and ``outcome`` (``ok``, ``denied`` for a role refusal, ``failed``), plus the
details the handler chose (numbers and flags, never names).

Nothing secret and nothing personal beyond the actor's id goes in: a data subject
appears only as ``user#`` + a keyed hash of their id (the same HMAC secret as the
key hashes), so the log can answer "was Alice's data erased, and by whom?" for
someone who knows Alice's id (``bastion audit export --user alice``) without
holding it. Key names and labels are left out too (people put names in them).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from bastion.core.errors import InvalidRequest
from bastion.identity.roles import Actor
from bastion.observe.logging import get_logger
from bastion.stores.audit import AuditEntry, AuditLog

_log = get_logger("bastion.audit")
_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FIELDS = ("id", "ts", "time", "actor", "action", "target", "source", "detail")


class AdminAudit:
    """Appends admin actions; user ids become keyed hashes (see the module docstring)."""

    def __init__(self, log: AuditLog, keyed_hash: Callable[[str], Awaitable[str]]) -> None:
        self.log = log
        self._hash = keyed_hash
        self._pending: set[asyncio.Task[bool]] = set()

    async def user_ref(self, user: str) -> str:
        """How the audit log names a data subject: ``user#<16 hex>``."""
        return "user#" + (await self._hash("audit-user:" + user))[:16]

    async def record(self, actor: Actor | str, action: str, target: str | None = None, *,
                     source: str | None = None, **detail: Any) -> bool:
        """Append one entry; a database failure is logged, never raised (the action has
        already happened). Whether it was written."""
        who = actor if isinstance(actor, str) else actor.id
        if not isinstance(actor, str) and actor.token_id:
            detail.setdefault("via", f"{actor.via} {actor.token_id}")
        try:
            await self.log.append(AuditEntry(who, action, target, source, detail))
        except Exception as e:  # noqa: BLE001 - any store failure: say so loudly, go on
            _log.error("audit_write_failed", action=action, actor=who,
                       error=type(e).__name__)
            return False
        return True

    def record_soon(self, actor: Actor | str, action: str, **detail: Any) -> None:
        """:meth:`record` from code that cannot wait (a signal handler)."""
        try:
            task = asyncio.get_running_loop().create_task(
                self.record(actor, action, **detail))
        except RuntimeError:  # no running loop: nothing to record on
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def export(self, *, since: float | None = None, until: float | None = None,
                     actor: str | None = None, action: str | None = None,
                     target: str | None = None, limit: int = 10_000) -> list[AuditEntry]:
        rows = await self.log.list(since=since, until=until, actor=actor, action=action,
                                   limit=limit if target is None else 100_000)
        if target is not None:
            rows = [r for r in rows if r.target == target][:limit]
        return rows


def parse_when(text: str | None, param: str) -> float | None:
    """``None``, epoch seconds, an ISO date/time, or a duration ago (``7d``, ``12h``)."""
    if text is None or not text.strip():
        return None
    t = text.strip()
    if m := _AGO.match(t):
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        raise InvalidRequest(f"`{param}` is epoch seconds, an ISO date (2026-01-31T12:00Z) "
                             "or a duration ago such as 7d or 12h.", param=param) from None


def _row(e: AuditEntry) -> dict[str, Any]:
    when = datetime.fromtimestamp(e.ts).astimezone().isoformat(timespec="seconds")
    return {**e.as_dict(), "time": when}


def to_jsonl(entries: Iterable[AuditEntry]) -> str:
    return "".join(json.dumps(_row(e), separators=(",", ":")) + "\n" for e in entries)


def to_csv(entries: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, FIELDS, lineterminator="\n")
    w.writeheader()
    for e in entries:
        row = _row(e)
        row["detail"] = json.dumps(e.detail, separators=(",", ":"))
        # A spreadsheet runs cells that start with = + - @ as formulas: quote them.
        w.writerow({k: f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v
                    for k, v in row.items()})
    return out.getvalue()
