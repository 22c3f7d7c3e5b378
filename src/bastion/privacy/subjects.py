"""Data-subject rights: export and erase everything held about a user, in every store.

What is "about a user": their virtual keys (records and hashes), the usage rows of
the user or of their keys, the bodies stored for them (opt-in retention), the
exact-cache entries their requests wrote (found through the per-user cache index),
their shared counters in Redis (rate limits, quotas and budgets of the user and of
their keys), and whatever other parts register (the review queue, for one) with
:meth:`SubjectData.register`.

Erasure deletes all of it. The user's keys keep working but are no longer tied to
the person (their ``user`` field is cleared, at once on this replica and within
``state.key_cache_ttl_s`` elsewhere), so nothing they do afterwards is recorded
against the erased id; revoke them separately to stop them. The callers (the admin
API's audited routes, ``bastion users``) record each export and erasure in the audit
log as who asked, when, the user's keyed reference (``user#…``, not the id) and how
many items of each kind: never what they held.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bastion.cache.base import decode_entry
from bastion.core.types import json_encoder

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.cache.base import CacheBackend

_SCAN_LIMIT = 100_000


class SubjectSource(Protocol):
    """A part that holds data about users and can export and erase it."""

    name: str

    async def export(self, user: str) -> list[dict[str, Any]]: ...

    async def erase(self, user: str) -> int: ...


@dataclass(slots=True)
class SubjectData:
    """Export / erase across the gateway's stores (see the module docstring)."""

    gw: Gateway
    traffic_prefix: str
    flush: Callable[[], Awaitable[None]]  # writes the privacy part's queued rows
    sources: list[SubjectSource] = dataclasses.field(default_factory=list)

    def register(self, source: SubjectSource) -> None:
        self.sources.append(source)

    def _user_col(self) -> str:
        return "user_id" if self.gw.db.dialect == "postgres" else "user"

    async def _key_ids(self, user: str) -> list[str]:
        return [k.id for k in await self.gw.keys.list() if k.user == user]

    def _cache(self) -> CacheBackend | None:
        for source in getattr(self.gw.route, "stale_sources", []):
            backend = getattr(source, "backend", None)
            if backend is not None and hasattr(backend, "delete"):
                return backend  # type: ignore[no-any-return]
        return None

    async def _cache_keys(self, user: str) -> list[str]:
        rows = await self.gw.db.sql_fetch(
            "SELECT cache_key FROM privacy_cache_index WHERE user_id = ?", user)
        return [str(r[0]) for r in rows]

    async def _redis_keys(self, user: str, key_ids: list[str]) -> list[bytes]:
        redis = self.gw.redis
        if redis is None:
            return []
        found: list[bytes] = []
        scopes = [f"u:{user}"] + [f"k:{k}" for k in key_ids]
        for scope in scopes:
            for pattern in (_glob(self.traffic_prefix + scope) + ":*",
                            _glob(self.traffic_prefix + scope)):
                async for key in redis.scan_iter(match=pattern, count=500):
                    found.append(key)
                    if len(found) >= _SCAN_LIMIT:
                        return found
        return found

    async def export(self, user: str) -> dict[str, Any]:
        await self.gw.recorder.flush()
        await self._flush_privacy()
        db = self.gw.db
        key_ids = await self._key_ids(user)
        keys = [dataclasses.asdict(k) for k in await self.gw.keys.list() if k.id in key_ids]
        usage = [dataclasses.asdict(r) for r in await db.usage_for_user(user)]
        rows = await db.sql_fetch(
            "SELECT ts, expires_at, request_id, alias, target, request, response "
            "FROM stored_bodies WHERE user_id = ? ORDER BY ts", user)
        bodies = [{"ts": r[0], "expires_at": r[1], "request_id": r[2], "alias": r[3],
                   "target": r[4], "request": json.loads(r[5]),
                   "response": json.loads(r[6]) if r[6] else None} for r in rows]
        cache = []
        backend = self._cache()
        for k in await self._cache_keys(user):
            data = await backend.get(k) if backend is not None else None
            entry = decode_entry(data) if data is not None else None
            if entry is not None:
                cache.append({"key": k, "stored_at": entry.stored_at,
                              "response": json.loads(json_encoder.encode(entry.response))})
        shared = []
        for rk in await self._redis_keys(user, key_ids):
            shared.append({"key": rk.decode(errors="replace"),
                           "value": await _redis_value(self.gw.redis, rk)})
        extra = {s.name: await s.export(user) for s in self.sources}
        return {"user": user, "keys": keys, "usage": usage, "stored_bodies": bodies,
                "cache_entries": cache, "shared_state": shared, **extra}

    async def erase(self, user: str) -> dict[str, Any]:
        await self.gw.recorder.flush()
        await self._flush_privacy()
        db = self.gw.db
        key_ids = await self._key_ids(user)
        done: dict[str, int] = {}
        done["usage_rows"] = await db.delete_user(user)  # also clears the keys' user field
        done["keys_unlinked"] = len(key_ids)
        done["stored_bodies"] = await db.sql_execute(
            "DELETE FROM stored_bodies WHERE user_id = ?", user)
        for kid in key_ids:
            done["stored_bodies"] += await db.sql_execute(
                "DELETE FROM stored_bodies WHERE key_id = ?", kid)
        backend = self._cache()
        cache_keys = await self._cache_keys(user)
        done["cache_entries"] = 0
        for k in cache_keys:
            if backend is not None and await backend.delete(k):
                done["cache_entries"] += 1
        await db.sql_execute("DELETE FROM privacy_cache_index WHERE user_id = ?", user)
        redis_keys = await self._redis_keys(user, key_ids)
        if redis_keys:
            await self.gw.redis.delete(*redis_keys)
        done["shared_state"] = len(redis_keys)
        for s in self.sources:
            done[s.name] = await s.erase(user)
        self.gw.keys.forget_cached()
        return {"user": user, "deleted": done}

    async def _flush_privacy(self) -> None:
        await self.flush()


class ReviewItems:
    """The human review queue's items of a user (prompt and answer text included)."""

    name = "review_items"
    _COLS = ("id", "created_at", "status", "reason", "alias", "request_id", "confidence",
             "prompt", "answer", "final_answer", "decided_by", "decided_at")

    def __init__(self, db: Any) -> None:
        self.db = db

    async def export(self, user: str) -> list[dict[str, Any]]:
        rows = await self.db.sql_fetch(
            f"SELECT {', '.join(self._COLS)} FROM review_items "  # noqa: S608 - fixed names
            "WHERE user_id = ? ORDER BY created_at", user)
        return [dict(zip(self._COLS, r, strict=True)) for r in rows]

    async def erase(self, user: str) -> int:
        return int(await self.db.sql_execute("DELETE FROM review_items WHERE user_id = ?",
                                             user))


async def _redis_value(redis: Any, key: bytes) -> Any:
    kind = (await redis.type(key)).decode()
    if kind == "string":
        v = await redis.get(key)
        return v.decode(errors="replace") if isinstance(v, bytes) else v
    if kind == "hash":
        return {k.decode(): v.decode(errors="replace")
                for k, v in (await redis.hgetall(key)).items()}
    if kind == "zset":
        return [(m.decode(errors="replace"), s)
                for m, s in await redis.zrange(key, 0, -1, withscores=True)]
    return kind


def _glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
