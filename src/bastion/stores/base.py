"""Narrow protocols for durable state, and the records they hold.

A database backend (memory, SQLite, PostgreSQL) implements :class:`Database`:
virtual keys (stored only as keyed hashes), the usage log, and a small meta
table. Backends are chosen by URL scheme and imported only when chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class KeyRecord:
    """A virtual key's settings. The secret itself is never stored, only its hash."""

    id: str
    name: str
    prefix: str  # first characters of the key, for people to recognise it
    created_at: float
    user: str | None = None
    team: str | None = None
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class UsageRow:
    """One request as the meter recorded it. No prompt or answer text."""

    ts: float
    request_id: str
    key_id: str | None
    user: str | None
    team: str | None
    alias: str
    target: str | None
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error_code: str | None = None
    cached: bool = False
    degraded: str | None = None


@dataclass(slots=True)
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend_usd: float = 0.0


class Database(Protocol):
    """Keys, usage log and meta values; one implementation per engine."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def meta_get_or_set(self, name: str, value: str) -> str:
        """Return the stored value of ``name``, storing ``value`` first if there is none."""
        ...

    async def insert_key(self, rec: KeyRecord, key_hash: str) -> None: ...

    async def find_key(self, key_hash: str) -> tuple[KeyRecord, float | None] | None:
        """The key behind ``key_hash`` and the hash's own expiry (rotation grace), if any."""
        ...

    async def get_key(self, key_id: str) -> KeyRecord | None: ...

    async def list_keys(self) -> list[KeyRecord]: ...

    async def revoke_key(self, key_id: str, at: float) -> bool: ...

    async def add_key_hash(self, key_id: str, key_hash: str, retire_old_at: float) -> None:
        """Add a new hash for ``key_id`` and let its older hashes work until ``retire_old_at``."""
        ...

    async def record_usage(self, rows: list[UsageRow]) -> None: ...

    async def usage_totals(self, key_id: str) -> UsageTotals: ...

    async def usage_for_user(self, user: str) -> list[UsageRow]: ...

    async def delete_user(self, user: str) -> int:
        """Erase the user's usage rows and keys' user field; return the rows removed."""
        ...


def open_database(url: str) -> Database:
    """The backend for ``url``: ``memory://``, ``sqlite:///path`` or ``postgresql://…``."""
    if url.startswith("memory:"):
        from bastion.stores.memory import MemoryDatabase

        return MemoryDatabase()
    if url.startswith("sqlite:"):
        from bastion.stores.sqlite import SQLiteDatabase

        return SQLiteDatabase(url.removeprefix("sqlite://").removeprefix("/") or ":memory:")
    if url.startswith(("postgres://", "postgresql://")):
        from bastion.stores.postgres import PostgresDatabase

        return PostgresDatabase(url)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
