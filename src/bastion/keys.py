"""Virtual keys: created once, stored as a keyed hash, scoped, expiring, rotatable.

A key looks like ``bst_`` + 43 URL-safe characters, so leak scanners can find
it. The database holds ``HMAC-SHA256(secret, key)``; the HMAC secret lives in
the database's meta table (or ``BASTION_KEY_HASH_SECRET``), so a stolen table
alone cannot be brute-forced offline. Lookups are cached for
``key_cache_ttl_s`` (revocations in this process take effect at once; other
replicas see them within the TTL).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bastion.core.context import Identity
from bastion.core.errors import AuthenticationFailed, NotFound
from bastion.stores.base import Database, KeyRecord

KEY_PREFIX = "bst_"
_KEY_SHAPE = re.compile(r"^bst_[A-Za-z0-9_\-]{43}$")
_NEGATIVE_TTL_S = 1.0
# A permission kept in the key's metadata: the key may name its end user per request
# (see bastion.identity.callers).
ACT_FOR_USERS = "act_for_users"


@dataclass(slots=True, frozen=True)
class NewKey:
    record: KeyRecord
    key: str  # shown once


def identity_of(rec: KeyRecord) -> Identity:
    return Identity(
        key_id=rec.id, name=rec.name, user=rec.user, team=rec.team,
        models=tuple(rec.models) if rec.models is not None else None,
        rpm=rec.rpm, tpm=rec.tpm, budget_usd=rec.budget_usd,
        act_for_users=rec.metadata.get(ACT_FOR_USERS) == "true",
    )


class KeyService:
    """Key lifecycle and authentication over a :class:`Database`."""

    def __init__(self, db: Database, cache_ttl_s: float = 5.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.db = db
        self._env = os.environ if env is None else env
        self._secret: bytes | None = None
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Identity | None, float | None]] = {}

    async def _hmac_secret(self) -> bytes:
        if self._secret is None:
            env = self._env.get("BASTION_KEY_HASH_SECRET")
            value = env or await self.db.meta_get_or_set("key_hash_secret",
                                                         secrets.token_hex(32))
            self._secret = value.encode()
        return self._secret

    async def hash_key(self, key: str) -> str:
        return hmac.new(await self._hmac_secret(), key.encode(), hashlib.sha256).hexdigest()

    async def create(
        self, name: str, *, user: str | None = None, team: str | None = None,
        models: list[str] | None = None, rpm: int | None = None, tpm: int | None = None,
        budget_usd: float | None = None, expires_in_s: float | None = None,
        act_for_users: bool = False,
    ) -> NewKey:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        rec = KeyRecord(
            id="key_" + secrets.token_hex(8), name=name, prefix=key[:8], created_at=now,
            user=user, team=team, models=models, rpm=rpm, tpm=tpm, budget_usd=budget_usd,
            expires_at=now + expires_in_s if expires_in_s else None,
            metadata={ACT_FOR_USERS: "true"} if act_for_users else {},
        )
        await self.db.insert_key(rec, await self.hash_key(key))
        return NewKey(rec, key)

    async def authenticate(self, key: str | None) -> Identity:
        """The identity behind ``key``, or :class:`AuthenticationFailed`."""
        if not key or not _KEY_SHAPE.match(key):
            raise AuthenticationFailed()
        now = time.time()
        mono = time.monotonic()
        key_hash = await self.hash_key(key)
        hit = self._cache.get(key_hash)
        if hit is None or hit[0] < mono:
            found = await self.db.find_key(key_hash)
            ident: Identity | None = None
            valid_until: float | None = None
            if found is not None:
                rec, hash_until = found
                if rec.revoked_at is None:
                    ident = identity_of(rec)
                    ends = [t for t in (rec.expires_at, hash_until) if t is not None]
                    valid_until = min(ends) if ends else None
            if len(self._cache) > 100_000:
                self._cache.clear()
            ttl = self._ttl if ident is not None else min(self._ttl, _NEGATIVE_TTL_S)
            hit = (mono + ttl, ident, valid_until)
            self._cache[key_hash] = hit
        _, ident, valid_until = hit
        if ident is None or (valid_until is not None and valid_until <= now):
            raise AuthenticationFailed()
        return ident

    async def list(self) -> list[KeyRecord]:
        return await self.db.list_keys()

    async def get(self, key_id: str) -> KeyRecord:
        rec = await self.db.get_key(key_id)
        if rec is None:
            raise NotFound(f"No key with id {key_id}.")
        return rec

    async def update_limits(self, key_id: str, limits: dict[str, float | None]) -> KeyRecord:
        """Set ``rpm``, ``tpm`` and/or ``budget_usd`` of a key (``None`` clears one); the
        new limits apply to the next request (on other replicas within the cache TTL)."""
        await self.get(key_id)
        cols = [c for c in ("rpm", "tpm", "budget_usd") if c in limits]
        if cols:
            await self.db.sql_execute(
                f"UPDATE keys SET {', '.join(c + ' = ?' for c in cols)} "  # noqa: S608
                "WHERE id = ?", *(limits[c] for c in cols), key_id)
            self._cache.clear()
        return await self.get(key_id)

    def forget_cached(self) -> None:
        """Drop every cached lookup, so the next request of each key reads the database."""
        self._cache.clear()

    async def revoke(self, key_id: str) -> None:
        await self.get(key_id)
        await self.db.revoke_key(key_id, time.time())
        self._cache.clear()

    async def rotate(self, key_id: str, grace_s: float = 3600.0) -> NewKey:
        """A new secret for ``key_id``; the old one keeps working for ``grace_s`` seconds."""
        rec = await self.get(key_id)
        if rec.revoked_at is not None:
            raise NotFound(f"Key {key_id} is revoked; create a new one instead.")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        await self.db.add_key_hash(key_id, await self.hash_key(key), time.time() + grace_s)
        self._cache.clear()
        return NewKey(rec, key)
