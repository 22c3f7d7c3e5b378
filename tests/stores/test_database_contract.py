"""One contract for every :class:`~bastion.stores.base.Database` backend.

Each test runs against memory (SQLite in memory), SQLite (a temporary file) and
PostgreSQL (real, in a fresh schema per test, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from bastion.stores.base import Database, KeyRecord, UsageRow, UsageTotals, open_database
from bastion.stores.postgres import PostgresDatabase, split_schema
from bastion.stores.sqlite import SQLiteDatabase

Factory = Callable[[], Database]


@dataclasses.dataclass
class Backend:
    name: str
    make: Factory
    durable: bool


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        shared = SQLiteDatabase(":memory:")
        yield Backend("memory", lambda: shared, durable=False)
        return
    if request.param == "sqlite":
        path = str(tmp_path / "contract.db")
        yield Backend("sqlite", lambda: SQLiteDatabase(path), durable=True)
        return
    url = request.getfixturevalue("postgres_url")
    schema = "bastion_test_" + uuid.uuid4().hex[:12]
    try:
        yield Backend("postgres", lambda: PostgresDatabase(url, schema=schema, max_size=4),
                      durable=True)
    finally:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    d = backend.make()
    await d.open()
    try:
        yield d
    finally:
        await d.close()


def key(key_id: str, created_at: float, **kw: object) -> KeyRecord:
    return KeyRecord(id=key_id, name=f"name-{key_id}", prefix="bst_abcd", created_at=created_at,
                     **kw)  # type: ignore[arg-type]


def row(key_id: str | None, user: str | None, ts: float, **kw: object) -> UsageRow:
    base: dict[str, object] = {
        "ts": ts, "request_id": f"req-{ts}", "key_id": key_id, "user": user, "team": "t1",
        "alias": "chat", "target": "fake/m", "status": 200, "prompt_tokens": 10,
        "completion_tokens": 5, "cost_usd": 0.25, "latency_ms": 12.5,
    }
    base.update(kw)
    return UsageRow(**base)  # type: ignore[arg-type]


FULL = key("key_full", 1000.5, user="alice", team="red", models=["chat", "embeddings"], rpm=60,
           tpm=10_000, budget_usd=12.5, expires_at=99_999.25, metadata={"owner": "ops"})


async def test_insert_find_get_list(db: Database) -> None:
    await db.insert_key(FULL, "h-full")
    plain = key("key_plain", 1001.0)
    await db.insert_key(plain, "h-plain")

    found = await db.find_key("h-full")
    assert found == (FULL, None)
    assert await db.find_key("h-plain") == (plain, None)
    assert await db.find_key("h-nothing") is None

    assert await db.get_key("key_full") == FULL
    assert await db.get_key("key_plain") == plain
    assert await db.get_key("key_nothing") is None
    assert [r.id for r in await db.list_keys()] == ["key_full", "key_plain"]


async def test_records_are_snapshots(db: Database) -> None:
    await db.insert_key(dataclasses.replace(FULL), "h-full")
    got = await db.get_key("key_full")
    assert got is not None
    got.user = "mallory"
    got.revoked_at = 1.0
    assert await db.get_key("key_full") == FULL


async def test_revoke(db: Database) -> None:
    await db.insert_key(FULL, "h-full")
    assert await db.revoke_key("key_full", 2000.0) is True
    assert await db.revoke_key("key_full", 3000.0) is False  # already revoked: first time stays
    assert await db.revoke_key("key_nothing", 2000.0) is False
    found = await db.find_key("h-full")
    assert found is not None
    assert found[0].revoked_at == 2000.0
    listed = await db.list_keys()
    assert listed[0].revoked_at == 2000.0


async def test_add_key_hash_rotation_grace(db: Database) -> None:
    await db.insert_key(FULL, "h1")
    await db.insert_key(key("key_other", 1002.0), "h-other")
    await db.add_key_hash("key_full", "h2", 5000.0)
    assert await db.find_key("h1") == (FULL, 5000.0)
    assert await db.find_key("h2") == (FULL, None)
    assert await db.find_key("h-other") == (key("key_other", 1002.0), None)  # untouched

    # A second rotation with a later end never extends an older hash's grace...
    await db.add_key_hash("key_full", "h3", 9000.0)
    assert (await db.find_key("h1") or (None, None))[1] == 5000.0
    assert (await db.find_key("h2") or (None, None))[1] == 9000.0
    assert (await db.find_key("h3") or (None, None))[1] is None
    # ...and one with an earlier end cuts every older hash short.
    await db.add_key_hash("key_full", "h4", 4000.0)
    for h in ("h1", "h2", "h3"):
        assert (await db.find_key(h) or (None, None))[1] == 4000.0
    assert (await db.find_key("h4") or (None, None))[1] is None


async def test_usage_totals_and_user_rows(db: Database) -> None:
    await db.insert_key(FULL, "h-full")
    await db.insert_key(key("key_bob", 1003.0, user="bob"), "h-bob")
    await db.record_usage([])  # nothing to write is fine
    alice_rows = [
        row("key_full", "alice", 10.0),
        row("key_full", "alice", 11.0, status=429, prompt_tokens=0, completion_tokens=0,
            cost_usd=0.0, error_code="rate_limit_exceeded", target=None, outcome="refused"),
        row("key_full", "alice", 12.0, cached=True, degraded="static", prompt_tokens=7,
            arm="fake/m"),
    ]
    await db.record_usage([alice_rows[2], alice_rows[0]])
    await db.record_usage([alice_rows[1], row("key_bob", "bob", 13.0, prompt_tokens=100)])

    assert await db.usage_totals("key_full") == UsageTotals(2, 17, 10, 0.5, served=2, refused=1)
    assert await db.usage_totals("key_bob") == UsageTotals(1, 100, 5, 0.25, served=1)
    assert await db.usage_totals("key_nothing") == UsageTotals()
    assert await db.usage_for_user("alice") == alice_rows  # every field, ordered by time
    assert await db.usage_for_user("nobody") == []


async def test_a_usage_row_written_twice_lands_once(db: Database) -> None:
    """A batch retried after an ambiguous failure (the commit happened, the answer was
    lost) must not count twice: rows are unique by ``row_id``."""
    await db.insert_key(FULL, "h-full")
    rows = [row("key_full", "alice", 1.0, row_id="r1"),
            row("key_full", "alice", 2.0, row_id="r2", status=499, outcome="cancelled")]
    await db.record_usage(rows)
    await db.record_usage([*rows, row("key_full", "alice", 3.0, row_id="r3", status=503,
                                      outcome="failed", cost_usd=0.0)])
    assert await db.usage_totals("key_full") == UsageTotals(
        3, 30, 15, 0.5, served=1, failed=1, cancelled=1)
    assert [r.row_id for r in await db.usage_for_user("alice")] == ["r1", "r2", "r3"]


async def test_delete_user(db: Database) -> None:
    await db.insert_key(FULL, "h-full")
    await db.insert_key(key("key_bob", 1003.0, user="bob"), "h-bob")
    await db.record_usage([row("key_full", "alice", 1.0), row("key_full", "alice", 2.0),
                           row("key_bob", "bob", 3.0)])
    assert await db.delete_user("alice") == 2
    assert await db.usage_for_user("alice") == []
    assert await db.usage_totals("key_full") == UsageTotals()
    rec = await db.get_key("key_full")
    assert rec is not None
    assert rec.user is None
    assert rec.team == "red"  # only the user is erased
    # Others are untouched; erasing again finds nothing.
    assert [r.ts for r in await db.usage_for_user("bob")] == [3.0]
    assert (await db.get_key("key_bob") or FULL).user == "bob"
    assert await db.delete_user("alice") == 0


async def test_meta_first_writer_wins(db: Database) -> None:
    assert await db.meta_get_or_set("secret", "first") == "first"
    assert await db.meta_get_or_set("secret", "second") == "first"
    assert await db.meta_get_or_set("other", "x") == "x"
    results = await asyncio.gather(*(db.meta_get_or_set("race", f"v{i}") for i in range(20)))
    assert len(set(results)) == 1
    assert results[0] in {f"v{i}" for i in range(20)}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_durable_backends_survive_reopen(backend: Backend, db: Database) -> None:
    assert backend.durable
    await db.insert_key(FULL, "h-full")
    await db.meta_get_or_set("secret", "kept")
    await db.record_usage([row("key_full", "alice", 1.0)])
    again = backend.make()
    await again.open()  # opening an existing schema is idempotent
    try:
        assert await again.find_key("h-full") == (FULL, None)
        assert await again.meta_get_or_set("secret", "new") == "kept"
        assert (await again.usage_totals("key_full")).requests == 1
    finally:
        await again.close()


async def test_concurrent_open_on_a_fresh_store(backend: Backend) -> None:
    """Several processes starting at once must not trip over schema creation."""
    dbs = [backend.make() for _ in range(4)]
    await asyncio.gather(*(d.open() for d in dbs))
    try:
        values = await asyncio.gather(*(d.meta_get_or_set("who", f"db{i}")
                                        for i, d in enumerate(dbs)))
        assert len(set(values)) == 1
    finally:
        for d in dbs:
            await d.close()


def test_postgres_url_schema_option() -> None:
    assert split_schema("postgresql://u@h:5432/db?schema=tenant_a&sslmode=disable") == (
        "postgresql://u@h:5432/db?sslmode=disable", "tenant_a")
    assert split_schema("postgresql://u@h/db") == ("postgresql://u@h/db", None)
    assert PostgresDatabase("postgresql://u@h/db?schema=tenant_a").schema == "tenant_a"
    assert PostgresDatabase("postgresql://u@h/db?schema=a", schema="b").schema == "b"
    assert PostgresDatabase("postgres://u@h/db").schema == "public"
    with pytest.raises(ValueError, match="identifier"):
        PostgresDatabase("postgresql://u@h/db", schema='x"; DROP TABLE keys; --')
    assert isinstance(open_database("postgresql://u@h/db?schema=s"), PostgresDatabase)


async def test_postgres_schema_from_url_isolates_tables(postgres_url: str) -> None:
    """Two schemas in one database hold separate keys (tenants, parallel test runs)."""
    names = ["bastion_test_" + uuid.uuid4().hex[:12] for _ in range(2)]
    sep = "&" if "?" in postgres_url else "?"
    a = open_database(f"{postgres_url}{sep}schema={names[0]}")
    b = open_database(f"{postgres_url}{sep}schema={names[1]}")
    try:
        await a.open()
        await b.open()
        await a.insert_key(FULL, "h-full")
        assert await a.get_key("key_full") == FULL
        assert await b.get_key("key_full") is None
    finally:
        await a.close()
        await b.close()
        conn = await asyncpg.connect(postgres_url)
        try:
            for n in names:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{n}" CASCADE')
        finally:
            await conn.close()
