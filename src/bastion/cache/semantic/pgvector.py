"""The semantic store on PostgreSQL with pgvector: an HNSW index per vector size.

One table (``<namespace>_semantic_v2``) holds every partition; each row keeps the
cached question (and conversation context) for the verifier and its own acceptance
threshold for shadow verification. A lookup filters by partition and orders by
cosine distance (``<=>``). For each vector size in use, a partial HNSW index on
``embedding::vector(<dims>)`` (``vector_cosine_ops``) is created on first sight,
so a large partition (100,000 entries) is searched through the graph instead of
scanned; a small one is read through the partition's b-tree (PostgreSQL's
planner chooses). ``hnsw.ef_search`` is raised and, where pgvector ≥ 0.8,
``hnsw.iterative_scan`` lets a filtered search go on until it has ``k`` rows.

Needs the ``vector`` extension (``CREATE EXTENSION vector``, done here when the
role may). PostgreSQL slow or down is a miss, never a failed request (see
:mod:`bastion.cache.pg`).
"""

from __future__ import annotations

import time
from typing import Any

from bastion.cache.pg import PgPool, table_name
from bastion.cache.semantic.store import Candidate

_SWEEP_EVERY_S = 60.0
EF_SEARCH = 100


def _version(text: str | None) -> tuple[int, ...]:
    parts = (text or "0").split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector) + "]"


class PgVectorStore:
    name = "postgres"

    def __init__(self, pool: PgPool, namespace: str) -> None:
        self.pool = pool
        self.table = table_name(namespace, "semantic_v2")
        self._next_sweep = 0.0
        self._indexed: set[int] = set()
        self._iterative = False
        pool.on_open(self._create)

    async def _create(self, conn: Any) -> None:
        t = self.table
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {t} (partition text NOT NULL, "
            "entry_key text NOT NULL, question text NOT NULL, context text NOT NULL, "
            "threshold double precision, dims integer NOT NULL, embedding vector NOT NULL, "
            "expires_at double precision NOT NULL, words bytea NOT NULL DEFAULT ''::bytea, "
            "PRIMARY KEY (partition, entry_key))")
        # Tables made before the verifier read word vectors get the column (empty).
        await conn.execute(
            f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS words bytea NOT NULL DEFAULT ''::bytea")
        version = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        # hnsw.iterative_scan exists from pgvector 0.8; setting it on an older one is
        # an error (the "hnsw" prefix is reserved), so ask only where it exists.
        self._iterative = _version(version) >= (0, 8)

    async def _index(self, conn: Any, dims: int) -> None:
        if dims in self._indexed:
            return
        await conn.execute(
            f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw_{dims} ON {self.table} "
            f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}")
        self._indexed.add(dims)

    async def nearest(self, partition: str, vector: list[float], k: int,
                      floor: float) -> list[Candidate]:
        d = len(vector)
        sql = (f"SELECT entry_key, question, context, threshold, words, "  # noqa: S608 - identifier from table_name(), dims an int
               f"1 - (embedding::vector({d}) <=> $2::vector({d})) AS sim FROM {self.table} "
               f"WHERE dims = {d} AND partition = $1 AND expires_at > $3 "
               f"ORDER BY embedding::vector({d}) <=> $2::vector({d}) LIMIT $4")

        async def q(conn: Any) -> Any:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                if self._iterative:
                    await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                return await conn.fetch(sql, partition, _literal(vector), time.time(), k)

        rows = await self.pool.run(q) or []
        return [Candidate(r["entry_key"], float(r["sim"]), r["question"], r["context"],
                          r["threshold"], bytes(r["words"])) for r in rows if r["sim"] is not None
                and r["sim"] >= floor]

    async def add(self, partition: str, vector: list[float], entry_key: str, question: str,
                  context: str, keep_s: float, words: bytes = b"") -> None:
        now = time.time()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + _SWEEP_EVERY_S
        upsert = (f"INSERT INTO {self.table} (partition, entry_key, question, context, dims, "  # noqa: S608 - identifier from table_name()
                  "embedding, expires_at, words) VALUES ($1, $2, $3, $4, $5, $6::vector, $7, $8) "
                  "ON CONFLICT (partition, entry_key) DO UPDATE SET question = "
                  "EXCLUDED.question, context = EXCLUDED.context, dims = EXCLUDED.dims, "
                  "embedding = EXCLUDED.embedding, expires_at = EXCLUDED.expires_at, "
                  "words = EXCLUDED.words, threshold = NULL")
        purge = f"DELETE FROM {self.table} WHERE expires_at < $1"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> None:
            await self._index(conn, len(vector))
            await conn.execute(upsert, partition, entry_key, question, context, len(vector),
                               _literal(vector), now + keep_s, words)
            if sweep:
                await conn.execute(purge, now)

        await self.pool.run(q)

    async def set_threshold(self, partition: str, entry_key: str, threshold: float) -> None:
        sql = f"UPDATE {self.table} SET threshold = $3 WHERE partition = $1 AND entry_key = $2"  # noqa: S608 - identifier from table_name()

        async def q(conn: Any) -> None:
            await conn.execute(sql, partition, entry_key, threshold)

        await self.pool.run(q)

    async def aclose(self) -> None:
        return None
