"""The audit log on every engine: append, read with filters, append-only, retention."""

from __future__ import annotations

import pytest

from bastion.stores.audit import AuditEntry, AuditLog
from bastion.stores.base import Database


async def test_append_and_read_back_in_order(db: Database) -> None:
    log = AuditLog(db)
    await log.record("account:alice", "key.create", "key_1", source="10.0.0.1", models=["chat"])
    await log.append(AuditEntry("master-key", "key.revoke", "key_1", "cli", ts=5.0))
    await log.record("account:bob", "user.erase", "user-42", rows=3)
    entries = await log.list()
    assert [e.action for e in entries] == ["key.revoke", "key.create", "user.erase"]
    first = entries[1]
    assert first.actor == "account:alice"
    assert first.detail == {"models": ["chat"]}
    assert first.source == "10.0.0.1"
    assert first.id is not None
    assert entries[0].ts == 5.0
    assert entries[2].as_dict()["detail"] == {"rows": 3}


async def test_filters(db: Database) -> None:
    log = AuditLog(db)
    for i, action in enumerate(["key.create", "key.revoke", "keyring_x.other", "user.erase"]):
        await log.append(AuditEntry(f"a{i % 2}", action, ts=100.0 + i))
    assert [e.action for e in await log.list(action="key.")] == ["key.create", "key.revoke"]
    # "_" is not a wildcard: "key_" matches nothing here
    assert await log.list(action="key_") == []
    assert [e.ts for e in await log.list(since=101, until=103)] == [101.0, 102.0]
    assert {e.actor for e in await log.list(actor="a1")} == {"a1"}
    assert len(await log.list(limit=2)) == 2


async def test_entries_cannot_be_changed(db: Database) -> None:
    log = AuditLog(db)
    await log.record("account:alice", "key.create", "key_1")
    with pytest.raises(Exception, match="append-only"):
        await db.sql_execute("UPDATE audit_log SET actor = ?", "someone-else")
    assert (await log.list())[0].actor == "account:alice"


async def test_retention_removes_only_older_entries(db: Database) -> None:
    log = AuditLog(db)
    for ts in (10.0, 20.0, 30.0):
        await log.append(AuditEntry("cli", "usage.purge", ts=ts))
    assert await log.purge_before(25.0) == 2
    assert [e.ts for e in await log.list()] == [30.0]
