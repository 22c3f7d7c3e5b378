"""One database per test on each engine the stores run on, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bastion.stores.base import Database
from bastion.stores.postgres import PostgresDatabase
from bastion.stores.sqlite import SQLiteDatabase


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite in memory, a SQLite file, and a fresh PostgreSQL schema."""
    schema = "bastion_store_" + uuid.uuid4().hex[:12]
    url = ""
    d: Database
    if request.param == "memory":
        d = SQLiteDatabase(":memory:")
    elif request.param == "sqlite":
        d = SQLiteDatabase(str(tmp_path / "store.db"))
    else:
        url = request.getfixturevalue("postgres_url")
        d = PostgresDatabase(url, schema=schema, max_size=4)
    await d.open()
    try:
        yield d
    finally:
        await d.close()
        if url:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()
