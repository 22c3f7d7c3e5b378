"""Narrow protocols for durable state, and the records they hold.

A database backend (SQLite, also in memory, and PostgreSQL) implements
:class:`Database`: virtual keys (stored only as keyed hashes), the usage log, a
small meta table, the schema's migrations, and the small :class:`SQL` interface
on which other stores are built (the audit log, and each new concern: a
migration for its tables plus a module of its own; never new methods here).
Backends are chosen by URL scheme and imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from bastion.stores.migrations import Status

#: What opening a database does to its schema: apply pending migrations, refuse to
#: start when some are pending, or leave it alone (``bastion db status``).
OnOpen = Literal["upgrade", "check", "skip"]


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
    outcome: str = "served"  # one of OUTCOMES
    row_id: str | None = None  # unique per row: a write retried after a failure lands once
    arm: str | None = None  # the A/B experiment arm (models.X.experiment), migration 5
    decisions: str | None = None  # the request's decisions as JSON (no text, no values)


#: What became of a request: ``served`` (answered, from a provider, the cache or a
#: degraded answer), ``refused`` (stopped by the gateway before any provider call:
#: limits, budgets, scope, guards), ``failed`` (every provider failed),
#: ``cancelled`` (the client left) and ``cut`` (the server cut it at shutdown).
OUTCOMES = ("served", "refused", "failed", "cancelled", "cut")

#: The outcome of a usage row in SQL; rows written before outcomes were recorded
#: are classified by their status.
OUTCOME_SQL = ("COALESCE(outcome, CASE WHEN status < 400 THEN 'served' WHEN status = 499 "
               "THEN 'cancelled' WHEN status >= 500 THEN 'failed' ELSE 'refused' END)")


@dataclass(slots=True)
class UsageTotals:
    """A key's usage. ``requests`` counts those passed on to be answered (every
    outcome but ``refused``); tokens and spend are what providers were paid for."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend_usd: float = 0.0
    served: int = 0
    refused: int = 0
    failed: int = 0
    cancelled: int = 0
    cut: int = 0

    @classmethod
    def from_groups(cls, groups: Sequence[Sequence[Any]]) -> UsageTotals:
        """Totals from ``(outcome, count, prompt, completion, cost)`` rows."""
        t = cls()
        for outcome, n, pt, ct, cost in groups:
            if outcome in OUTCOMES:
                setattr(t, outcome, getattr(t, outcome) + int(n))
            if outcome != "refused":
                t.requests += int(n)
            t.prompt_tokens += int(pt or 0)
            t.completion_tokens += int(ct or 0)
            t.spend_usd += float(cost or 0)
        return t


class SQL(Protocol):
    """Plain SQL for stores built on the database (audit log, review queue, …).

    Queries use ``?`` placeholders on every engine (PostgreSQL's are numbered for it)
    and hold no literal ``?``. ``dialect`` lets a store pick engine-specific SQL where
    the two differ (``ON CONFLICT`` works on both; types and upserts mostly do too).
    """

    dialect: str

    async def sql_execute(self, query: str, *args: Any) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def sql_executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def sql_fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]: ...


class Database(SQL, Protocol):
    """Keys, usage log and meta values; one implementation per engine."""

    async def open(self) -> None:
        """Connect, and bring the schema up to date (see :data:`OnOpen`)."""
        ...

    async def close(self) -> None: ...

    async def schema_status(self) -> Status:
        """The schema's version and the migrations this code would apply (no change)."""
        ...

    async def upgrade(self) -> Status:
        """Apply every pending migration; the status before."""
        ...

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


def open_database(url: str, on_open: OnOpen = "upgrade") -> Database:
    """The backend for ``url``: ``memory://`` (SQLite in memory), ``sqlite:///path`` or
    ``postgresql://…``."""
    if url.startswith(("memory:", "sqlite:")):
        from bastion.stores.sqlite import SQLiteDatabase

        path = ":memory:" if url.startswith("memory:") else (
            url.removeprefix("sqlite://").removeprefix("/") or ":memory:")
        return SQLiteDatabase(path, on_open=on_open)
    if url.startswith(("postgres://", "postgresql://")):
        from bastion.stores.postgres import PostgresDatabase

        return PostgresDatabase(url, on_open=on_open)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")
