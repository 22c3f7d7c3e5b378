"""The semantic store on PostgreSQL with pgvector: exact cosine search per partition.

Vectors of any dimension go in one ``vector`` column; a lookup scans one partition
(tenant + alias + request shape), found by a b-tree index, and orders it by cosine
distance (``<=>``), so results are exact, not approximate. Needs the ``vector``
extension (``CREATE EXTENSION vector``, done here when the role may).
"""

from __future__ import annotations

import time
from typing import Any

from bastion.cache.pg import PgPool, table_name
from bastion.cache.semantic.store import Match

_SWEEP_EVERY_S = 60.0


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector) + "]"


class PgVectorStore:
    name = "postgres"

    def __init__(self, pool: PgPool, namespace: str) -> None:
        self.pool = pool
        self.table = table_name(namespace, "semantic")
        self._next_sweep = 0.0
        pool.on_open(self._create)

    async def _create(self, conn: Any) -> None:
        t = self.table
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {t} (partition text NOT NULL, sig text NOT NULL, "
            "entry_key text NOT NULL, embedding vector NOT NULL, "
            "expires_at double precision NOT NULL, PRIMARY KEY (partition, entry_key))")
        await conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_sig ON {t} (partition, sig)")

    async def nearest(self, partition: str, vector: list[float], sig: str | None,
                      threshold: float) -> Match | None:
        sql = (f"SELECT entry_key, 1 - (embedding <=> $2::vector) AS sim FROM {self.table} "  # noqa: S608 - identifier from table_name()
               "WHERE partition = $1 AND ($3::text IS NULL OR sig = $3) AND expires_at > $4 "
               "ORDER BY embedding <=> $2::vector LIMIT 1")

        async def q(conn: Any) -> Any:
            return await conn.fetchrow(sql, partition, _literal(vector), sig, time.time())

        row = await self.pool.run(q)
        if row is None or row["sim"] is None or row["sim"] < threshold:
            return None
        return Match(row["entry_key"], float(row["sim"]))

    async def add(self, partition: str, vector: list[float], sig: str, entry_key: str,
                  keep_s: float) -> None:
        now = time.time()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + _SWEEP_EVERY_S
        upsert = (f"INSERT INTO {self.table} (partition, sig, entry_key, embedding, expires_at) "  # noqa: S608 - identifier from table_name()
                  "VALUES ($1, $2, $3, $4::vector, $5) ON CONFLICT (partition, entry_key) DO "
                  "UPDATE SET sig = EXCLUDED.sig, embedding = EXCLUDED.embedding, "
                  "expires_at = EXCLUDED.expires_at")
        purge = f"DELETE FROM {self.table} WHERE expires_at < $1"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> None:
            await conn.execute(upsert, partition, sig, entry_key, _literal(vector), now + keep_s)
            if sweep:
                await conn.execute(purge, now)

        await self.pool.run(q)

    async def aclose(self) -> None:
        return None
