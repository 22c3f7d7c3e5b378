"""Virtual keys: created once, stored as a keyed hash, scoped, expiring, rotatable.

A key looks like ``bst_`` + 43 URL-safe characters, so leak scanners can find
it. The database holds ``HMAC-SHA256(secret, key)``. The HMAC secret comes, in
this order, from ``state.key_hash_secret`` (a secret reference: ``env:``, ``file:``,
``vault:``, ``aws-sm:``), from ``BASTION_KEY_HASH_SECRET``, or, as a fallback, from
the database's meta table, where a random one is created once (a
``key_hash_secret_in_database`` warning says so at start-up: whoever steals the
database then has the secret too). Kept apart from the database, a stolen
database alone cannot be brute-forced offline. Lookups are cached for
``key_cache_ttl_s`` (revocations in this process take effect at once; other
replicas see them within the TTL).

While the database cannot be reached, a key whose record was read before keeps
working on that record for ``key_stale_s`` past its TTL (a trade-off: a
revocation made during the outage applies once the database is back); a key
that cannot be checked at all is answered 503 with ``Retry-After``
(:class:`~bastion.core.errors.StoreUnavailable`), never 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bastion.config.secrets import SecretSource, default_resolvers
from bastion.config.settings import Settings
from bastion.core.context import Identity
from bastion.core.errors import AuthenticationFailed, NotFound, StoreUnavailable
from bastion.observe.logging import get_logger
from bastion.stores.base import Database, KeyRecord

KEY_PREFIX = "bst_"
_KEY_SHAPE = re.compile(r"^bst_[A-Za-z0-9_\-]{43}$")
_NEGATIVE_TTL_S = 1.0
# a cached lookup: (re-read after, identity or None, valid until, read at); monotonic clock
_Hit = tuple[float, Identity | None, float | None, float]
_LOOKUP_TIMEOUT_S = 5.0  # a database slower than this is treated as unreachable
_STALE_RETRY_S = 1.0
# A permission kept in the key's metadata: the key may name its end user per request
# (see bastion.identity.callers).
ACT_FOR_USERS = "act_for_users"


@dataclass(slots=True, frozen=True)
class NewKey:
    record: KeyRecord
    key: str  # shown once


def key_hash_source(settings: Settings, env: Mapping[str, str] | None = None
                    ) -> SecretSource | None:
    """Where ``state.key_hash_secret`` points, or ``None`` when it is unset."""
    ref = settings.state.key_hash_secret
    return SecretSource(ref, default_resolvers(os.environ if env is None else env)) \
        if ref else None


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
                 env: Mapping[str, str] | None = None,
                 secret: SecretSource | None = None, *, stale_s: float = 300.0) -> None:
        self.db = db
        self._env = os.environ if env is None else env
        self._source = secret
        self._secret: bytes | None = None
        self._ttl = cache_ttl_s
        self._stale_s = stale_s
        self._stale_since = 0.0  # when lookups started failing (0: they work)
        self._log = get_logger("bastion.keys")
        self._cache: dict[str, _Hit] = {}
        self._pending: dict[str, asyncio.Future[_Hit]] = {}  # lookups in flight

    async def _hmac_secret(self) -> bytes:
        if self._secret is None:
            value = await self._configured_secret()
            if value is None:
                value = await self.db.meta_get_or_set("key_hash_secret", secrets.token_hex(32))
            self._secret = value.encode()
        return self._secret

    async def _configured_secret(self) -> str | None:
        """The secret from config or environment; ``None`` means the database fallback.
        A configured reference that cannot be read is an error, never a silent fallback
        (keys hashed with another secret would all stop working)."""
        if self._source is not None:
            return (await self._source.get()).reveal()
        return self._env.get("BASTION_KEY_HASH_SECRET") or None

    async def check_secret(self) -> None:
        """Start-up check: warn when the secret lives in the database, or when a database
        secret exists beside a different configured one (keys created under it fail)."""
        log = get_logger("bastion.keys")
        configured = await self._configured_secret()
        rows = await self.db.sql_fetch("SELECT value FROM meta WHERE name = ?",
                                       "key_hash_secret")
        if configured is None:
            log.warning("key_hash_secret_in_database",
                        hint="set state.key_hash_secret to a secret reference (see "
                             "docs/security.md) to keep it out of the database")
        elif rows and rows[0][0] != configured:
            log.warning("key_hash_secret_differs",
                        hint="the database holds another key-hash secret: keys created "
                             "under it will not authenticate (see docs/security.md)")

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
            hit = await self._lookup_once(key_hash, hit, mono)
        _, ident, valid_until, _ = hit
        if ident is None or (valid_until is not None and valid_until <= now):
            raise AuthenticationFailed()
        return ident

    async def _lookup_once(self, key_hash: str,
                           old: _Hit | None,
                           mono: float) -> _Hit:
        """:meth:`_lookup`, shared by every request that needs the same key meanwhile:
        a burst on a key whose cache entry just expired reads the database once."""
        pending = self._pending.get(key_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(key_hash, old, mono))
            self._pending[key_hash] = pending
            pending.add_done_callback(lambda f: self._lookup_done(key_hash, f))
        return await asyncio.shield(pending)

    def _lookup_done(self, key_hash: str, f: asyncio.Future[_Hit]) -> None:
        self._pending.pop(key_hash, None)
        if not f.cancelled():
            f.exception()  # retrieved here, so an error no waiter saw is not reported

    async def _lookup(self, key_hash: str,
                      old: _Hit | None,
                      mono: float) -> _Hit:
        """Read ``key_hash``'s record and cache it; during an outage, the old record
        while it is at most ``stale_s`` past its TTL (see the module docstring)."""
        try:
            async with asyncio.timeout(_LOOKUP_TIMEOUT_S):
                found = await self.db.find_key(key_hash)
        except (StoreUnavailable, TimeoutError):
            if not self._stale_since:
                self._stale_since = mono
                self._log.warning("key_store_unavailable", stale_s=self._stale_s,
                                  cached_keys=len(self._cache))
            limit = old[3] + self._ttl + self._stale_s if old is not None else 0.0
            if old is None or limit < mono:
                raise StoreUnavailable("The gateway cannot check this API key right now. "
                                       "Please try again in a few seconds.") from None
            # try the database again in a second, not on every request
            stale = (min(mono + _STALE_RETRY_S, limit), *old[1:])
            self._cache[key_hash] = stale
            return stale
        if self._stale_since:
            self._log.info("key_store_recovered",
                           down_s=round(mono - self._stale_since, 1))
            self._stale_since = 0.0
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
        hit = (mono + ttl, ident, valid_until, mono)
        self._cache[key_hash] = hit
        return hit

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
