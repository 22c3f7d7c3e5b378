"""Accounts and admin tokens on every engine (SQLite in memory, a SQLite file, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bastion.config.auth_settings import AdminAuthSettings
from bastion.core.errors import InsufficientRole, InvalidAdminToken, InvalidRequest
from bastion.identity.account_store import AccountStore
from bastion.identity.accounts import Accounts
from bastion.keys import KeyService
from bastion.stores.base import Database
from bastion.stores.postgres import PostgresDatabase
from bastion.stores.sqlite import SQLiteDatabase

PASSWORD = "correct horse battery staple"
CHEAP = AdminAuthSettings.model_validate(
    {"password_hashing": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}})


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Accounts]:
    schema = "bastion_accounts_" + uuid.uuid4().hex[:12]
    url = ""
    db: Database
    if request.param == "memory":
        db = SQLiteDatabase(":memory:")
    elif request.param == "sqlite":
        db = SQLiteDatabase(str(tmp_path / "a.db"))
    else:
        url = request.getfixturevalue("postgres_url")
        db = PostgresDatabase(url, schema=schema, max_size=2)
    await db.open()
    try:
        keys = KeyService(db, env={"BASTION_KEY_HASH_SECRET": "test"})
        yield Accounts(AccountStore(db), keys.hash_key, CHEAP, cache_ttl_s=0.0)
    finally:
        await db.close()
        if url:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await conn.close()


async def test_accounts_sign_in_and_tokens(accounts: Accounts) -> None:
    acc = await accounts.create(" Ann@Example.com ", "operator", PASSWORD)
    assert (acc.name, acc.role) == ("ann@example.com", "operator")
    with pytest.raises(InvalidRequest, match="exists already"):
        await accounts.create("ann@example.com", "viewer", PASSWORD)
    assert await accounts.verify_password("ann@example.com", "wrong password!") is None
    assert await accounts.verify_password("nobody", PASSWORD) is None
    assert (await accounts.verify_password("ANN@example.com", PASSWORD)) == acc
    session = await accounts.login("ann@example.com", PASSWORD)
    assert session is not None
    actor = await accounts.verify_token(session.token)
    assert (actor.id, actor.role, actor.via) == ("account:ann@example.com", "operator",
                                                 "session")
    scoped = await accounts.mint(acc, role="viewer", label="ci")
    assert (await accounts.verify_token(scoped.token)).grants == {"viewer"}
    with pytest.raises(InsufficientRole):
        await accounts.mint(acc, role="admin")
    assert {t.id for t in await accounts.tokens("ann@example.com")} == {
        session.record.id, scoped.record.id}
    await accounts.revoke(scoped.record.id)
    with pytest.raises(InvalidAdminToken):
        await accounts.verify_token(scoped.token)
    await accounts.update("ann@example.com", role="reviewer")
    assert (await accounts.verify_token(session.token)).grants == {"viewer"}
    await accounts.update("ann@example.com", disabled=True)
    with pytest.raises(InvalidAdminToken):
        await accounts.verify_token(session.token)
    assert await accounts.login("ann@example.com", PASSWORD) is None
    await accounts.update("ann@example.com", disabled=False)
    assert await accounts.login("ann@example.com", PASSWORD) is not None
    assert [a.name for a in await accounts.all()] == ["ann@example.com"]


async def test_tokens_must_look_like_tokens(accounts: Accounts) -> None:
    for bad in ("", "bat_short", "bst_" + "a" * 43, "bat_" + "a" * 42 + "!"):
        with pytest.raises(InvalidAdminToken):
            await accounts.verify_token(bad)
