"""Data-subject export and erasure across every store: the database (SQLite or
PostgreSQL), the Redis cache and counters. After erasure each store is queried
directly: nothing about the user is left, the other user's data is intact, and the
audit log says who erased whom and how much, never what."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openai
import pytest
import redis

from bastion.testing import FakeUpstream, GatewayServer

from .conftest import PERSONAL, leaked


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(URL, query(sql, *args) -> rows) on a database the test owns."""
    if request.param == "sqlite":
        path = tmp_path / "bastion.db"

        def q_sqlite(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as c:
                return list(c.execute(sql, args))

        yield f"sqlite:///{path}", q_sqlite
        return
    url = request.getfixturevalue("postgres_url")
    schema = "bastion_test_" + uuid.uuid4().hex[:12]

    def q_pg(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async def go() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(url, server_settings={"search_path": schema})
            try:
                n = iter(range(1, 100))
                return [tuple(r) for r in await conn.fetch(
                    "".join(f"${next(n)}" if ch == "?" else ch for ch in sql), *args)]
            finally:
                await conn.close()
        return asyncio.run(go())

    yield f"{url}?schema={schema}", q_pg

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    asyncio.run(drop())


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[tuple[redis.Redis, str]]:
    prefix = f"test:privacy:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url)
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_erasure_leaves_nothing_about_the_user_in_any_store(
        database: tuple[str, Callable[..., list[tuple[Any, ...]]]],
        redis_client: tuple[redis.Redis, str], redis_url: str) -> None:
    url, query = database
    r, prefix = redis_client
    user_col = "user_id" if url.startswith("postgresql") else "user"
    with FakeUpstream() as up, GatewayServer({
        "state": {"database": url, "redis": redis_url},
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"], "cache": {"enabled": "on", "scope": "user"},
                            "privacy": {"store_bodies": True}}},
        "cache": {"backend": "redis", "namespace": prefix + "cache"},
        "traffic": {"redis_prefix": prefix + "traffic:", "defaults": {"user": {"rpm": 1000}}},
    }) as gw:
        alice = gw.create_key(user="alice", rpm=1000)
        bob = gw.create_key(user="bob", rpm=1000)
        for key in (alice, bob):
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)
            c.chat.completions.create(model="chat",
                                      messages=[{"role": "user", "content": PERSONAL}])
            list(c.chat.completions.create(model="chat", stream=True, messages=[
                {"role": "user", "content": "and again: " + PERSONAL}]))
        admin = {"Authorization": f"Bearer {gw.master_key}"}
        now = time.time()
        for n, who in enumerate(("alice", "bob")):  # a held answer each in the review queue
            gw.run(gw.gateway.db.sql_execute(
                "INSERT INTO review_items(id, created_at, updated_at, expires_at, purge_after, "
                "status, reason, alias, dialect, stream, request_id, user_id, prompt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", f"rv{n}", now, now, now + 60,
                now + 600, "pending", "low_confidence", "chat", "openai", False, f"r{n}", who,
                f"{who} asked about 536-22-1234"))

        export = httpx.get(gw.base_url + "/admin/users/alice/data", headers=admin).json()
        assert len(export["keys"]) == 1
        assert len(export["usage"]) == 2
        assert len(export["stored_bodies"]) == 2
        assert leaked(export["stored_bodies"]) == []  # stored after minimisation
        assert len(export["cache_entries"]) == 2
        assert export["shared_state"]
        assert [i["id"] for i in export["review_items"]] == ["rv0"]
        alice_id = export["keys"][0]["id"]

        erased = httpx.delete(gw.base_url + "/admin/users/alice/data", headers=admin).json()
        assert erased["deleted"]["usage_rows"] == 2
        assert erased["deleted"]["stored_bodies"] == 2
        assert erased["deleted"]["cache_entries"] == 2
        assert erased["deleted"]["shared_state"] >= 2
        assert erased["deleted"]["review_items"] == 1

        # The database, queried directly.
        assert query(f"SELECT COUNT(*) FROM usage WHERE {user_col} = ? OR key_id = ?",  # noqa: S608
                     "alice", alice_id) == [(0,)]
        assert query(f"SELECT COUNT(*) FROM keys WHERE {user_col} = ?", "alice") == [(0,)]  # noqa: S608
        assert query("SELECT COUNT(*) FROM stored_bodies WHERE user_id = ? OR key_id = ?",
                     "alice", alice_id) == [(0,)]
        assert query("SELECT COUNT(*) FROM privacy_cache_index WHERE user_id = ?",
                     "alice") == [(0,)]
        assert query("SELECT COUNT(*) FROM review_items WHERE user_id = ?", "alice") == [(0,)]
        assert query("SELECT COUNT(*) FROM review_items WHERE user_id = ?", "bob") == [(1,)]
        # Redis, queried directly: no key of alice or her key, no cached answer of hers.
        names = [k.decode() for k in r.scan_iter(match=prefix + "*")]
        assert not [n for n in names if "alice" in n or alice_id in n]
        for entry in export["cache_entries"]:
            assert not r.exists(prefix + "cache:" + entry["key"])
        # Bob is untouched.
        assert query(f"SELECT COUNT(*) FROM usage WHERE {user_col} = ?", "bob") == [(2,)]  # noqa: S608
        assert query("SELECT COUNT(*) FROM stored_bodies WHERE user_id = ?", "bob") == [(2,)]
        assert [n for n in names if "u:bob" in n]
        # The audit trail: who, when, whom (a keyed reference), how much; never what.
        audit = query("SELECT actor, action, target, detail FROM audit_log ORDER BY id")
        erase_row = next(a for a in audit if a[1] == "user.erase")
        assert any(a[1] == "user.export" and a[2] == erase_row[2] for a in audit)
        assert erase_row[2].startswith("user#")
        detail = erase_row[3] if isinstance(erase_row[3], dict) else json.loads(erase_row[3])
        assert detail["usage_rows"] == 2
        assert detail["stored_bodies"] == 2
        assert leaked(audit) == []
        assert "alice" not in json.dumps(audit, default=str)
        after = httpx.get(gw.base_url + "/admin/users/alice/data", headers=admin).json()
        assert after["keys"] == after["usage"] == after["stored_bodies"] == []
        assert after["cache_entries"] == after["shared_state"] == []


def test_export_and_erase_need_the_master_key_and_a_sane_user_id() -> None:
    with GatewayServer({"providers": {"f": {"type": "fake"}},
                        "models": {"chat": {"targets": ["f/m"]}}}) as gw:
        assert httpx.get(gw.base_url + "/admin/users/alice/data").status_code == 401
        admin = {"Authorization": f"Bearer {gw.master_key}"}
        bad = httpx.delete(gw.base_url + "/admin/users/" + "x" * 300 + "/data", headers=admin)
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_request"
