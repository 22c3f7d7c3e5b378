"""The exact-cache backend on PostgreSQL: a ``key → bytea`` table with an expiry.

Rows past their expiry are invisible and are deleted in batches at most once a
minute, by whichever write comes first.
"""

from __future__ import annotations

import time
from typing import Any

from bastion.cache.pg import PgPool, table_name

_SWEEP_EVERY_S = 60.0


class PostgresBackend:
    name = "postgres"

    def __init__(self, pool: PgPool, namespace: str) -> None:
        self.pool = pool
        self.table = table_name(namespace, "entries")
        self._next_sweep = 0.0
        pool.on_open(self._create)

    async def _create(self, conn: Any) -> None:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key text PRIMARY KEY, "
            "value bytea NOT NULL, expires_at double precision NOT NULL)")

    async def get(self, key: str) -> bytes | None:
        sql = f"SELECT value FROM {self.table} WHERE key = $1 AND expires_at > $2"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> Any:
            return await conn.fetchval(sql, key, time.time())

        value = await self.pool.run(q)
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, keep_s: float) -> None:
        now = time.time()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + _SWEEP_EVERY_S
        upsert = (f"INSERT INTO {self.table} (key, value, expires_at) VALUES ($1, $2, $3) "  # noqa: S608 - identifier from table_name()
                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                  "expires_at = EXCLUDED.expires_at")
        purge = f"DELETE FROM {self.table} WHERE expires_at < $1"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> None:
            await conn.execute(upsert, key, value, now + keep_s)
            if sweep:
                await conn.execute(purge, now)

        await self.pool.run(q)

    async def delete(self, key: str) -> bool:
        sql = f"DELETE FROM {self.table} WHERE key = $1"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> Any:
            return await conn.execute(sql, key)

        return str(await self.pool.run(q)).endswith(" 1")

    async def aclose(self) -> None:
        return None  # the pool is closed by its owner
