"""Retention: stored bodies (opt-in, minimised, expiring), privacy events, the per-user
cache index, and the scheduled purge on every backend.

Nothing here runs on the request's path: rows are queued and written in batches by
one background task (at most :data:`FLUSH_S` later, or at shutdown). Bodies are
stored only for aliases that opted in, and only as they left the gateway: the
request after minimisation (stand-ins, ``[TYPE]`` redactions) and the provider's
answer before pseudonyms were restored, so a stored body never holds a value the
privacy step replaced.

The purge (every ``privacy.retention.purge_interval_s``, on every replica; it is
idempotent) deletes expired bodies, usage rows older than ``usage_ttl_days``, privacy
events older than ``events_ttl_days`` and expired cache-index rows, on SQLite or
PostgreSQL; on Redis it gives every key under Bastion's prefixes that has no expiry
one (``bodies_ttl_s``), so nothing there outlives its purpose.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from bastion.cache.assemble import StreamAssembler
from bastion.config.privacy_settings import Retention
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.types import ChatChunk, ChatResponse, json_encoder
from bastion.observe.logging import get_logger
from bastion.stores.base import SQL

FLUSH_S = 1.0
MAX_QUEUE = 10_000
MAX_BODY_BYTES = 1024 * 1024
_log = get_logger("bastion.privacy")

_INSERT = {
    "body": "INSERT INTO stored_bodies(ts, expires_at, request_id, key_id, user_id, alias, "
            "target, request, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "event": "INSERT INTO privacy_events(ts, alias, target, classes, counts) "
             "VALUES (?, ?, ?, ?, ?)",
}


class Writer:
    """Queued inserts, written in batches by one task (see the module docstring)."""

    def __init__(self, db: SQL) -> None:
        self.db = db
        self.queue: list[tuple[str, Sequence[Any]]] = []
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def put(self, kind: str, row: Sequence[Any]) -> None:
        if len(self.queue) >= MAX_QUEUE:
            self.dropped += 1  # a stuck database must not grow memory without bound
            return
        self.queue.append((kind, row))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        rows, self.queue = self.queue, []
        by_kind: dict[str, list[Sequence[Any]]] = {}
        for kind, row in rows:
            by_kind.setdefault(kind, []).append(row)
        for kind, batch in by_kind.items():
            try:
                if kind == "cache_index":
                    for r in batch:
                        await self.db.sql_execute(_upsert_index(self.db.dialect), *r)
                else:
                    await self.db.sql_executemany(_INSERT[kind], batch)
            except Exception as e:  # noqa: BLE001 - a failed write is logged, never fatal
                _log.warning("privacy_write_failed", kind=kind, rows=len(batch),
                             error=type(e).__name__)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()


def _upsert_index(dialect: str) -> str:
    return ("INSERT INTO privacy_cache_index(user_id, cache_key, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, cache_key) DO UPDATE SET expires_at = excluded.expires_at")


class PrivacyEvents:
    """Counts for the privacy impact report, and the per-user cache index."""

    def __init__(self, writer: Writer, cache_keep_s: float) -> None:
        self.writer = writer
        self.cache_keep_s = cache_keep_s

    def add(self, ctx: Context, alias: str, classes: set[str], counts: dict[str, int]) -> None:
        now = time.time()
        self.writer.put("event", (now, alias, ctx.target, ",".join(sorted(classes)),
                                  json.dumps(counts, separators=(",", ":"))))

    def cache_entry(self, ctx: Context) -> None:
        key = ctx.state.get("cache_key")
        user = ctx.identity.user if ctx.identity is not None else None
        if isinstance(key, str) and user:
            self.writer.put("cache_index", (user, key, time.time() + self.cache_keep_s))


class BodyStore:
    """Keeps minimised bodies of aliases that opted in (see the module docstring)."""

    def __init__(self, writer: Writer, ttl_s: float) -> None:
        self.writer = writer
        self.ttl_s = ttl_s

    def _put(self, ctx: Context, request: bytes, response: bytes | None) -> None:
        if len(request) + len(response or b"") > MAX_BODY_BYTES:
            return
        now = time.time()
        who = ctx.identity
        self.writer.put("body", (
            now, now + self.ttl_s, ctx.request_id, who.key_id if who else None,
            who.user if who else None, ctx.alias, ctx.target, request.decode(),
            response.decode() if response is not None else None))

    def keep(self, ctx: Context, reply: Reply) -> Reply:
        request = json_encoder.encode(ctx.request)
        if reply.stream is None:
            resp = reply.response
            self._put(ctx, request, json_encoder.encode(resp) if resp is not None else None)
            return reply
        return reply.map_stream(lambda s: self._record(ctx, request, s))

    async def _record(self, ctx: Context, request: bytes, stream: ChunkStream
                      ) -> AsyncIterator[ChatChunk]:
        asm = StreamAssembler(MAX_BODY_BYTES)
        async for chunk in stream:
            asm.add(chunk)
            yield chunk
        resp: ChatResponse | None = asm.result()
        self._put(ctx, request, json_encoder.encode(resp) if resp is not None else None)


async def purge(db: SQL, retention: Retention, redis: Any = None,
                prefixes: Sequence[str] = (), now: float | None = None) -> dict[str, int]:
    """One purge pass (see the module docstring); the rows or keys touched per kind."""
    now = time.time() if now is None else now
    out = {
        "bodies": await db.sql_execute("DELETE FROM stored_bodies WHERE expires_at < ?", now),
        "events": await db.sql_execute("DELETE FROM privacy_events WHERE ts < ?",
                                       now - retention.events_ttl_days * 86400),
        "cache_index": await db.sql_execute(
            "DELETE FROM privacy_cache_index WHERE expires_at < ?", now),
    }
    if retention.usage_ttl_days is not None:
        out["usage"] = await db.sql_execute("DELETE FROM usage WHERE ts < ?",
                                            now - retention.usage_ttl_days * 86400)
    if redis is not None and prefixes:
        out["redis_ttl_set"] = await redis_expire_unbounded(redis, prefixes,
                                                            retention.bodies_ttl_s)
    return out


async def redis_expire_unbounded(redis: Any, prefixes: Sequence[str], ttl_s: float,
                                 limit: int = 100_000) -> int:
    """Give keys under ``prefixes`` that never expire an expiry of ``ttl_s``."""
    fixed = seen = 0
    for prefix in prefixes:
        async for key in redis.scan_iter(match=_glob(prefix) + "*", count=500):
            seen += 1
            if seen > limit:
                return fixed
            if await redis.ttl(key) == -1:
                await redis.expire(key, max(1, int(ttl_s)))
                fixed += 1
    return fixed


def _glob(prefix: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix)


class Purger:
    """Runs :func:`purge` every ``retention.purge_interval_s`` in the background."""

    def __init__(self, db: SQL, retention: Retention, redis: Any, prefixes: Sequence[str]
                 ) -> None:
        self.db, self.retention, self.redis, self.prefixes = db, retention, redis, prefixes
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                done = await purge(self.db, self.retention, self.redis, self.prefixes)
                self.runs += 1
                if any(done.values()):
                    _log.info("privacy_purge", **done)
            except Exception as e:  # noqa: BLE001 - the next run tries again
                _log.warning("privacy_purge_failed", error=type(e).__name__)
            await asyncio.sleep(self.retention.purge_interval_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


__all__ = ["BodyStore", "PrivacyEvents", "Purger", "Writer", "msgspec", "purge"]
