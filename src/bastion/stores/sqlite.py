"""SQLite database: the single-process default. Runs sqlite3 on one worker thread
so the event loop never blocks on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bastion.core.errors import StoreUnavailable
from bastion.stores.base import OUTCOME_SQL, KeyRecord, OnOpen, UsageRow, UsageTotals
from bastion.stores.migrations import Status, migrate_sqlite
from bastion.stores.outage import converts_outages

T = TypeVar("T")

KEY_COLS = ("id, name, prefix, created_at, user, team, models, rpm, tpm, budget_usd, "
            "expires_at, revoked_at, metadata")
USAGE_COLS = ("ts, request_id, key_id, user, team, alias, target, status, prompt_tokens, "
              "completion_tokens, cost_usd, latency_ms, error_code, cached, degraded, outcome, "
              "row_id, arm, decisions")


def key_from_row(row: tuple[Any, ...]) -> KeyRecord:
    return KeyRecord(
        id=row[0], name=row[1], prefix=row[2], created_at=row[3], user=row[4], team=row[5],
        models=json.loads(row[6]) if row[6] else None, rpm=row[7], tpm=row[8],
        budget_usd=row[9], expires_at=row[10], revoked_at=row[11],
        metadata=json.loads(row[12] or "{}"),
    )


def key_to_row(rec: KeyRecord) -> tuple[Any, ...]:
    return (rec.id, rec.name, rec.prefix, rec.created_at, rec.user, rec.team,
            json.dumps(rec.models) if rec.models is not None else None, rec.rpm, rec.tpm,
            rec.budget_usd, rec.expires_at, rec.revoked_at, json.dumps(rec.metadata))


def usage_to_row(r: UsageRow) -> tuple[Any, ...]:
    return (r.ts, r.request_id, r.key_id, r.user, r.team, r.alias, r.target, r.status,
            r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms, r.error_code,
            int(r.cached), r.degraded, r.outcome, r.row_id, r.arm, r.decisions)


def usage_from_row(row: tuple[Any, ...]) -> UsageRow:
    return UsageRow(
        ts=row[0], request_id=row[1], key_id=row[2], user=row[3], team=row[4], alias=row[5],
        target=row[6], status=row[7], prompt_tokens=row[8], completion_tokens=row[9],
        cost_usd=row[10], latency_ms=row[11], error_code=row[12], cached=bool(row[13]),
        degraded=row[14], outcome=row[15] or "served", row_id=row[16], arm=row[17],
        decisions=row[18])


# SQLite's primary result codes that mean "the file cannot be used right now" (busy,
# locked, read-only, I/O error, full, cannot open, lock protocol), not "bad query".
_OUTAGE_CODES = frozenset({5, 6, 8, 10, 13, 14, 15})


def is_outage(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and (
        getattr(e, "sqlite_errorcode", 0) & 0xFF) in _OUTAGE_CODES


@converts_outages(is_outage)
class SQLiteDatabase:
    """:class:`~bastion.stores.base.Database` on a SQLite file (WAL mode), or in memory
    (``:memory:``: nothing survives a restart; tests and throwaway runs)."""

    dialect = "sqlite"

    def __init__(self, path: str, *, on_open: OnOpen = "upgrade") -> None:
        self.path = path
        self.on_open = on_open
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bastion-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            if self._conn is None:
                raise StoreUnavailable("The gateway's database is not open yet.")
            with self._conn:
                return fn(self._conn)

        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    async def open(self) -> None:
        def connect() -> None:
            if self._conn is not None:
                return
            if self.path != ":memory:":
                # Created owner-only before SQLite opens it (its -wal and -shm files
                # take the same mode): key hashes and usage are nobody else's business.
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                # The busy timeout first: another worker may hold the lock while it
                # switches the file to WAL or migrates it.
                conn.execute("PRAGMA busy_timeout=10000")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                if self.on_open != "skip":
                    migrate_sqlite(conn, self._where(), auto=self.on_open == "upgrade")
            except BaseException:
                conn.close()
                raise
            conn.isolation_level = "DEFERRED"
            self._conn = conn

        await asyncio.get_running_loop().run_in_executor(self._pool, connect)

    def _where(self) -> str:
        return "in memory" if self.path == ":memory:" else f"at {self.path}"

    async def schema_status(self) -> Status:
        return await self._raw(lambda c: migrate_sqlite(c, self._where(), dry_run=True))

    async def upgrade(self) -> Status:
        return await self._raw(lambda c: migrate_sqlite(c, self._where()))

    async def _raw(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on the connection in autocommit mode (it manages its own transaction)."""
        def job() -> T:
            assert self._conn is not None
            self._conn.isolation_level = None
            try:
                return fn(self._conn)
            finally:
                self._conn.isolation_level = "DEFERRED"

        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    # The small SQL interface for stores of their own (see stores/base.py: SQL).
    async def sql_execute(self, query: str, *args: Any) -> int:
        return await self._run(lambda c: int(c.execute(query, args).rowcount))

    async def sql_executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._run(lambda c: c.executemany(query, rows))

    async def sql_fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        return await self._run(lambda c: [tuple(r) for r in c.execute(query, args)])

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=False)

    async def meta_get_or_set(self, name: str, value: str) -> str:
        def q(c: sqlite3.Connection) -> str:
            c.execute("INSERT OR IGNORE INTO meta(name, value) VALUES (?, ?)", (name, value))
            row = c.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
            return str(row[0])

        return await self._run(q)

    async def insert_key(self, rec: KeyRecord, key_hash: str) -> None:
        def q(c: sqlite3.Connection) -> None:
            c.execute(f"INSERT INTO keys({KEY_COLS}) VALUES ({','.join('?' * 13)})",  # noqa: S608
                      key_to_row(rec))
            c.execute("INSERT INTO key_hashes(hash, key_id) VALUES (?, ?)", (key_hash, rec.id))

        await self._run(q)

    async def find_key(self, key_hash: str) -> tuple[KeyRecord, float | None] | None:
        def q(c: sqlite3.Connection) -> tuple[KeyRecord, float | None] | None:
            row = c.execute(
                f"SELECT {KEY_COLS}, h.valid_until FROM key_hashes h "  # noqa: S608
                "JOIN keys k ON k.id = h.key_id WHERE h.hash = ?", (key_hash,)).fetchone()
            return None if row is None else (key_from_row(row[:13]), row[13])

        return await self._run(q)

    async def get_key(self, key_id: str) -> KeyRecord | None:
        def q(c: sqlite3.Connection) -> KeyRecord | None:
            row = c.execute(f"SELECT {KEY_COLS} FROM keys WHERE id = ?",  # noqa: S608
                            (key_id,)).fetchone()
            return None if row is None else key_from_row(row)

        return await self._run(q)

    async def list_keys(self) -> list[KeyRecord]:
        def q(c: sqlite3.Connection) -> list[KeyRecord]:
            rows = c.execute(f"SELECT {KEY_COLS} FROM keys ORDER BY created_at")  # noqa: S608
            return [key_from_row(r) for r in rows]

        return await self._run(q)

    async def revoke_key(self, key_id: str, at: float) -> bool:
        def q(c: sqlite3.Connection) -> bool:
            cur = c.execute("UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                            (at, key_id))
            return cur.rowcount > 0

        return await self._run(q)

    async def add_key_hash(self, key_id: str, key_hash: str, retire_old_at: float) -> None:
        def q(c: sqlite3.Connection) -> None:
            c.execute("UPDATE key_hashes SET valid_until = MIN(COALESCE(valid_until, ?), ?) "
                      "WHERE key_id = ?", (retire_old_at, retire_old_at, key_id))
            c.execute("INSERT INTO key_hashes(hash, key_id) VALUES (?, ?)", (key_hash, key_id))

        await self._run(q)

    async def record_usage(self, rows: list[UsageRow]) -> None:
        def q(c: sqlite3.Connection) -> None:
            c.executemany(f"INSERT INTO usage({USAGE_COLS}) VALUES ({','.join('?' * 19)}) "  # noqa: S608
                          "ON CONFLICT(row_id) DO NOTHING", [usage_to_row(r) for r in rows])

        await self._run(q)

    async def usage_totals(self, key_id: str) -> UsageTotals:
        def q(c: sqlite3.Connection) -> UsageTotals:
            rows = c.execute(f"SELECT {OUTCOME_SQL} AS o, COUNT(*), SUM(prompt_tokens), "  # noqa: S608
                             "SUM(completion_tokens), SUM(cost_usd) FROM usage "
                             "WHERE key_id = ? GROUP BY o", (key_id,)).fetchall()
            return UsageTotals.from_groups(rows)

        return await self._run(q)

    async def usage_for_user(self, user: str) -> list[UsageRow]:
        def q(c: sqlite3.Connection) -> list[UsageRow]:
            rows = c.execute(f"SELECT {USAGE_COLS} FROM usage WHERE user = ? ORDER BY ts",  # noqa: S608
                             (user,))
            return [usage_from_row(r) for r in rows]

        return await self._run(q)

    async def delete_user(self, user: str) -> int:
        def q(c: sqlite3.Connection) -> int:
            n = c.execute("DELETE FROM usage WHERE user = ?", (user,)).rowcount
            c.execute("UPDATE keys SET user = NULL WHERE user = ?", (user,))
            return int(n)

        return await self._run(q)
