"""PostgreSQL database: shared by every replica. asyncpg with a small connection pool.

The schema is brought up to date on :meth:`PostgresDatabase.open` by the versioned
migrations (:mod:`bastion.stores.migrations`), under a transaction-scoped advisory
lock, so several processes may start at once.
Tables live in the PostgreSQL schema named by ``schema=`` (or ``?schema=`` in
the URL; default ``public``), which lets tests and tenants keep separate sets of
tables in one database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bastion.core.errors import StoreUnavailable
from bastion.stores.base import OUTCOME_SQL, KeyRecord, OnOpen, UsageRow, UsageTotals
from bastion.stores.migrations import Status, migrate_postgres
from bastion.stores.outage import converts_outages

_CONNECT_TIMEOUT_S = 5.0
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_SELECT_KEY = ("SELECT id, name, prefix, created_at, user_id, team, models, rpm, tpm, "
               "budget_usd, expires_at, revoked_at, metadata FROM keys")
_FIND_KEY = ("SELECT k.id, k.name, k.prefix, k.created_at, k.user_id, k.team, k.models, k.rpm, "
             "k.tpm, k.budget_usd, k.expires_at, k.revoked_at, k.metadata, h.valid_until "
             "FROM key_hashes h JOIN keys k ON k.id = h.key_id WHERE h.hash = $1")
_INSERT_KEY = ("INSERT INTO keys(id, name, prefix, created_at, user_id, team, models, rpm, tpm, "
               "budget_usd, expires_at, revoked_at, metadata) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
_INSERT_USAGE = ("INSERT INTO usage(ts, request_id, key_id, user_id, team, alias, target, status, "
                 "prompt_tokens, completion_tokens, cost_usd, latency_ms, error_code, cached, "
                 "degraded, outcome, row_id, arm, decisions) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
                 "$17, $18, $19) ON CONFLICT (row_id) DO NOTHING")
_USAGE_OF_USER = ("SELECT ts, request_id, key_id, user_id, team, alias, target, status, "
                  "prompt_tokens, completion_tokens, cost_usd, latency_ms, error_code, cached, "
                  "degraded, outcome, row_id, arm, decisions FROM usage WHERE user_id = $1 "
                  "ORDER BY ts")
_USAGE_TOTALS = (f"SELECT {OUTCOME_SQL} AS o, COUNT(*), SUM(prompt_tokens), "  # noqa: S608
                 "SUM(completion_tokens), SUM(cost_usd) FROM usage WHERE key_id = $1 GROUP BY o")


def split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema`` query parameter, and that parameter's value."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _key(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row[0], name=row[1], prefix=row[2], created_at=row[3], user=row[4], team=row[5],
        models=list(row[6]) if row[6] is not None else None, rpm=row[7], tpm=row[8],
        budget_usd=row[9], expires_at=row[10], revoked_at=row[11],
        metadata=json.loads(row[12]) if row[12] else {},
    )


def _key_args(rec: KeyRecord) -> tuple[Any, ...]:
    return (rec.id, rec.name, rec.prefix, rec.created_at, rec.user, rec.team, rec.models,
            rec.rpm, rec.tpm, rec.budget_usd, rec.expires_at, rec.revoked_at,
            json.dumps(rec.metadata))


def _usage_args(r: UsageRow) -> tuple[Any, ...]:
    return (r.ts, r.request_id, r.key_id, r.user, r.team, r.alias, r.target, r.status,
            r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms, r.error_code,
            r.cached, r.degraded, r.outcome, r.row_id, r.arm, r.decisions)


def _usage(row: Any) -> UsageRow:
    return UsageRow(
        ts=row[0], request_id=row[1], key_id=row[2], user=row[3], team=row[4], alias=row[5],
        target=row[6], status=row[7], prompt_tokens=row[8], completion_tokens=row[9],
        cost_usd=row[10], latency_ms=row[11], error_code=row[12], cached=row[13],
        degraded=row[14], outcome=row[15] or "served", row_id=row[16], arm=row[17],
        decisions=row[18])


@lru_cache(maxsize=512)
def numbered(query: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (queries hold no literal ``?``)."""
    parts = query.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "")
                   for i, p in enumerate(parts, start=1))


def _rowcount(status: str) -> int:
    """The row count from a command tag such as ``UPDATE 3`` or ``DELETE 0``."""
    return int(status.rsplit(" ", 1)[-1])


_OUTAGES = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
            asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.InsufficientResourcesError)


def is_outage(e: BaseException) -> bool:
    """Refused, reset or timed-out connections, a server shutting down or starting up,
    no connection slot free: the database cannot be used right now."""
    return isinstance(e, _OUTAGES)


@converts_outages(is_outage)
class PostgresDatabase:
    """:class:`~bastion.stores.base.Database` on PostgreSQL (asyncpg pool, 1 to ``max_size``)."""

    dialect = "postgres"

    def __init__(self, url: str, *, schema: str | None = None, min_size: int = 1,
                 max_size: int = 10, on_open: OnOpen = "upgrade") -> None:
        dsn, url_schema = split_schema(url)
        self.schema = schema or url_schema or "public"
        if not _IDENT.match(self.schema):
            raise ValueError("the PostgreSQL schema name must be a lower-case identifier")
        self._dsn = dsn
        self._min = min_size
        self._max = max_size
        self.on_open = on_open
        self._pool: Any = None

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise StoreUnavailable("The gateway is not connected to its database yet.")
        return self._pool

    async def open(self) -> None:
        if self._pool is not None:
            return
        # timeout: a database that does not answer fails the connect in seconds, not a
        # minute (asyncpg's default), so callers can answer 503 and try again later.
        pool = await asyncpg.create_pool(
            self._dsn, min_size=self._min, max_size=self._max, timeout=_CONNECT_TIMEOUT_S,
            server_settings={"search_path": self.schema},
        )
        try:
            if self.on_open != "skip":
                async with pool.acquire() as conn:
                    await migrate_postgres(conn, self.schema, self._where(),
                                           auto=self.on_open == "upgrade")
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _where(self) -> str:
        return f"(PostgreSQL schema {self.schema!r})"

    async def schema_status(self) -> Status:
        async with self.pool.acquire() as conn:
            return await migrate_postgres(conn, self.schema, self._where(), dry_run=True)

    async def upgrade(self) -> Status:
        async with self.pool.acquire() as conn:
            return await migrate_postgres(conn, self.schema, self._where())

    # The small SQL interface for stores of their own (see stores/base.py: SQL).
    async def sql_execute(self, query: str, *args: Any) -> int:
        status = await self.pool.execute(numbered(query), *args)
        try:
            return _rowcount(status)
        except ValueError:  # e.g. CREATE TABLE: no row count
            return 0

    async def sql_executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(numbered(query), rows)

    async def sql_fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await self.pool.fetch(numbered(query), *args)]

    async def meta_get_or_set(self, name: str, value: str) -> str:
        async with self.pool.acquire() as conn:
            await conn.execute("INSERT INTO meta(name, value) VALUES ($1, $2) "
                               "ON CONFLICT (name) DO NOTHING", name, value)
            return str(await conn.fetchval("SELECT value FROM meta WHERE name = $1", name))

    async def insert_key(self, rec: KeyRecord, key_hash: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_INSERT_KEY, *_key_args(rec))
            await conn.execute("INSERT INTO key_hashes(hash, key_id) VALUES ($1, $2)",
                               key_hash, rec.id)

    async def find_key(self, key_hash: str) -> tuple[KeyRecord, float | None] | None:
        row = await self.pool.fetchrow(_FIND_KEY, key_hash)
        return None if row is None else (_key(row), row[13])

    async def get_key(self, key_id: str) -> KeyRecord | None:
        row = await self.pool.fetchrow(_SELECT_KEY + " WHERE id = $1", key_id)
        return None if row is None else _key(row)

    async def list_keys(self) -> list[KeyRecord]:
        rows = await self.pool.fetch(_SELECT_KEY + " ORDER BY created_at, id")
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: str, at: float) -> bool:
        status = await self.pool.execute(
            "UPDATE keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", at, key_id)
        return _rowcount(status) > 0

    async def add_key_hash(self, key_id: str, key_hash: str, retire_old_at: float) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE key_hashes SET valid_until = LEAST(COALESCE(valid_until, $1), $1) "
                "WHERE key_id = $2", retire_old_at, key_id)
            await conn.execute("INSERT INTO key_hashes(hash, key_id) VALUES ($1, $2)",
                               key_hash, key_id)

    async def record_usage(self, rows: list[UsageRow]) -> None:
        if rows:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(_INSERT_USAGE, [_usage_args(r) for r in rows])

    async def usage_totals(self, key_id: str) -> UsageTotals:
        return UsageTotals.from_groups(await self.pool.fetch(_USAGE_TOTALS, key_id))

    async def usage_for_user(self, user: str) -> list[UsageRow]:
        rows = await self.pool.fetch(_USAGE_OF_USER, user)
        return [_usage(r) for r in rows]

    async def delete_user(self, user: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute("DELETE FROM usage WHERE user_id = $1", user)
            await conn.execute("UPDATE keys SET user_id = NULL WHERE user_id = $1", user)
        return _rowcount(status)
