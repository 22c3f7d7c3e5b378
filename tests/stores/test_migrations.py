"""Versioned schema migrations: an existing database is upgraded without losing a row,
a newer one is refused, replicas do not race, and `bastion db` shows and applies them."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from bastion.app import Gateway
from bastion.cli import app as cli
from bastion.config.settings import Settings
from bastion.stores.base import open_database
from bastion.stores.migrations import (
    LATEST,
    MIGRATIONS,
    SchemaBehind,
    SchemaTooNew,
    split_sqlite,
)
from bastion.stores.postgres import PostgresDatabase
from bastion.stores.sqlite import SQLiteDatabase

# The schema as releases before migrations created it (no schema_migrations table).
OLD_SQLITE = MIGRATIONS[0].sqlite
OLD_POSTGRES = MIGRATIONS[0].postgres
ROWS = 50


def old_sqlite_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SQLITE)
    conn.execute("INSERT INTO meta VALUES ('key_hash_secret', 's3cret')")
    for i in range(ROWS):
        conn.execute("INSERT INTO keys(id, name, prefix, created_at, user, metadata) "
                     "VALUES (?, ?, 'bst_abcd', ?, ?, '{}')", (f"k{i}", f"n{i}", i, f"u{i}"))
        conn.execute("INSERT INTO key_hashes(hash, key_id) VALUES (?, ?)", (f"h{i}", f"k{i}"))
        conn.execute("INSERT INTO usage VALUES (?, ?, ?, ?, NULL, 'chat', 'fake/m', 200, "
                     "10, 5, 0.01, 12.5, NULL, 0, NULL)", (i, f"r{i}", f"k{i}", f"u{i}"))
    conn.commit()
    conn.close()


@pytest.fixture
async def pg_schema(postgres_url: str) -> AsyncIterator[str]:
    schema = "bastion_mig_" + uuid.uuid4().hex[:12]
    yield schema
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_versions_are_ordered_and_unique() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] == 1
    assert versions[-1] == LATEST


def test_sqlite_scripts_split_into_whole_statements() -> None:
    for m in MIGRATIONS:
        for stmt in split_sqlite(m.sqlite):
            assert sqlite3.complete_statement(stmt)
    trigger = split_sqlite(MIGRATIONS[1].sqlite)[-1]
    assert trigger.startswith("CREATE TRIGGER")
    assert trigger.endswith("END;")


async def test_sqlite_database_of_an_older_release_is_upgraded_keeping_every_row(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old_sqlite_database(path)
    db = SQLiteDatabase(str(path), on_open="skip")
    await db.open()
    before = await db.schema_status()
    assert before.current == 0
    assert [m.version for m in before.pending] == [m.version for m in MIGRATIONS]
    await db.close()

    db = SQLiteDatabase(str(path))
    await db.open()
    try:
        status = await db.schema_status()
        assert (status.current, status.pending) == (LATEST, ())
        assert len(await db.list_keys()) == ROWS
        assert (await db.usage_totals("k7")).requests == 1
        found = await db.find_key("h7")
        assert found is not None
        assert found[0].user == "u7"
        assert await db.meta_get_or_set("key_hash_secret", "other") == "s3cret"
        assert await db.sql_fetch("SELECT COUNT(*) FROM audit_log") == [(0,)]
    finally:
        await db.close()


async def test_postgres_database_of_an_older_release_is_upgraded_keeping_every_row(
        postgres_url: str, pg_schema: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        await conn.execute(f'SET search_path TO "{pg_schema}"')
        await conn.execute(OLD_POSTGRES)
        for i in range(ROWS):
            await conn.execute("INSERT INTO keys(id, name, prefix, created_at, user_id) "
                               "VALUES ($1, $2, 'bst_abcd', $3, $4)", f"k{i}", f"n{i}", i, f"u{i}")
            await conn.execute("INSERT INTO usage VALUES ($1, $2, $3, $4, NULL, 'chat', "
                               "'fake/m', 200, 10, 5, 0.01, 12.5, NULL, false, NULL)",
                               float(i), f"r{i}", f"k{i}", f"u{i}")
    finally:
        await conn.close()
    db = PostgresDatabase(postgres_url, schema=pg_schema, max_size=2)
    await db.open()
    try:
        status = await db.schema_status()
        assert (status.current, status.pending) == (LATEST, ())
        assert len(await db.list_keys()) == ROWS
        assert (await db.usage_totals("k3")).spend_usd == pytest.approx(0.01)
        assert await db.sql_fetch("SELECT COUNT(*) FROM audit_log") == [(0,)]
    finally:
        await db.close()


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"

    async def make_newer() -> None:
        db = SQLiteDatabase(str(path))
        await db.open()
        await db.sql_execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)",
                             LATEST + 1)
        await db.close()

    async def reopen() -> None:
        await SQLiteDatabase(str(path)).open()

    asyncio.run(make_newer())
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST + 1}.*Upgrade Bastion"):
        asyncio.run(reopen())
    result = CliRunner().invoke(cli, ["db", "upgrade", "--config", str(config(tmp_path, path))])
    assert result.exit_code == 1
    assert "newer than this Bastion" in result.output


async def test_postgres_newer_schema_is_refused(postgres_url: str, pg_schema: str) -> None:
    db = PostgresDatabase(postgres_url, schema=pg_schema, max_size=2)
    await db.open()
    await db.sql_execute("INSERT INTO schema_migrations VALUES (?, 'future', 0)", LATEST + 1)
    await db.close()
    with pytest.raises(SchemaTooNew):
        await PostgresDatabase(postgres_url, schema=pg_schema, max_size=2).open()


def config(tmp_path: Path, db_path: Path, *, auto: bool = True) -> Path:
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text(f"state:\n  database: sqlite:///{db_path}\n"
                   f"  auto_migrate: {str(auto).lower()}\n")
    return cfg


def test_without_auto_migrate_a_behind_database_is_refused_until_upgraded(
        tmp_path: Path) -> None:
    path = tmp_path / "behind.db"
    old_sqlite_database(path)
    cfg = config(tmp_path, path, auto=False)
    settings = Settings.model_validate(
        {"state": {"database": f"sqlite:///{path}", "auto_migrate": False}})

    async def start_and_count() -> int:
        gw = Gateway(settings, env={})
        try:
            await gw.start()
            return len(await gw.db.list_keys())
        finally:
            await gw.close()

    with pytest.raises(SchemaBehind, match="bastion db upgrade"):
        asyncio.run(start_and_count())

    runner = CliRunner()
    status = runner.invoke(cli, ["db", "status", "--config", str(cfg)])
    assert status.exit_code == 0, status.output
    assert "schema version 0" in status.output
    assert "pending 2: audit log" in status.output
    upgrade = runner.invoke(cli, ["db", "upgrade", "--config", str(cfg)])
    assert upgrade.exit_code == 0, upgrade.output
    assert "applied 1:" in upgrade.output
    assert "up to date" in upgrade.output

    assert asyncio.run(start_and_count()) == ROWS


async def test_memory_urls_are_sqlite_in_memory_with_the_full_schema() -> None:
    db = open_database("memory://")
    await db.open()
    try:
        assert db.dialect == "sqlite"
        assert (await db.schema_status()).pending == ()
    finally:
        await db.close()


def test_a_new_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"

    async def make() -> None:
        db = SQLiteDatabase(str(path))
        await db.open()
        await db.close()

    asyncio.run(make())
    assert path.stat().st_mode & 0o777 == 0o600
