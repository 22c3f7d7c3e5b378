"""Retention: bodies are not stored by default; opted in, they are stored minimised and
expire; the purge removes expired bodies, old usage and events, and gives unbounded
Redis keys an expiry."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import redis

from bastion.config.privacy_settings import Retention
from bastion.privacy.retention import purge, redis_expire_unbounded
from bastion.stores.base import open_database
from bastion.testing import FakeUpstream, GatewayServer

from .conftest import PERSONAL, leaked


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as u:
        yield u


def _bodies(gw: GatewayServer) -> list[tuple[str, str]]:
    gw.run(gw.gateway.privacy.writer.flush())
    rows = gw.run(gw.gateway.db.sql_fetch("SELECT request, response FROM stored_bodies"))
    return [(r[0], r[1]) for r in rows]


def test_bodies_are_not_stored_unless_an_alias_opts_in(up: FakeUpstream) -> None:
    with GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"plain": {"targets": ["up/m"]},
                   "kept": {"targets": ["up/m"], "privacy": {"store_bodies": True}}},
    }) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        c.chat.completions.create(model="plain", messages=[{"role": "user", "content": PERSONAL}])
        assert _bodies(gw) == []
        c.chat.completions.create(model="kept", messages=[{"role": "user", "content": PERSONAL}])
        stored = _bodies(gw)
        assert len(stored) == 1
        assert leaked(stored) == []  # the request as sent, the answer before restoring
        assert "example." in stored[0][0]


def test_global_opt_in_with_a_ttl(up: FakeUpstream) -> None:
    with GatewayServer({
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"]}},
        "privacy": {"retention": {"store_bodies": True, "bodies_ttl_s": 60}},
    }) as gw:
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        list(c.chat.completions.create(model="chat", stream=True,
                                       messages=[{"role": "user", "content": PERSONAL}]))
        gw.run(gw.gateway.privacy.writer.flush())
        (ts, expires), = gw.run(gw.gateway.db.sql_fetch(
            "SELECT ts, expires_at FROM stored_bodies"))
        assert 59 <= expires - ts <= 61
        assert _bodies(gw)[0][1] is not None  # the streamed answer, assembled


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_purge_removes_what_has_expired(kind: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'p.db'}"
    else:
        url = request.getfixturevalue("postgres_url") + "?schema=bastion_test_" + \
            uuid.uuid4().hex[:12]

    async def go() -> dict[str, int]:
        db = open_database(url)
        await db.open()
        try:
            now = time.time()
            ins = ("INSERT INTO stored_bodies(ts, expires_at, request_id, alias, request) "
                   "VALUES (?, ?, ?, ?, ?)")
            await db.sql_execute(ins, now - 100, now - 1, "old", "chat", "{}")
            await db.sql_execute(ins, now, now + 100, "new", "chat", "{}")
            await db.sql_execute("INSERT INTO privacy_events(ts, alias, target, classes, counts)"
                                 " VALUES (?, ?, ?, ?, ?)", now - 3 * 86400, "chat", None, "pii",
                                 "{}")
            await db.sql_execute("INSERT INTO privacy_cache_index(user_id, cache_key, "
                                 "expires_at) VALUES (?, ?, ?)", "u", "k", now - 1)
            done = await purge(db, Retention(usage_ttl_days=1, events_ttl_days=2), now=now)
            left = await db.sql_fetch("SELECT request_id FROM stored_bodies")
            assert [r[0] for r in left] == ["new"]
            return done
        finally:
            if kind == "postgres":
                schema = url.split("schema=")[1]
                await db.sql_execute(f'DROP SCHEMA "{schema}" CASCADE')
            await db.close()

    done = asyncio.run(go())
    assert done == {"bodies": 1, "events": 1, "cache_index": 1, "usage": 0}


def test_redis_keys_without_expiry_get_one(redis_url: str) -> None:
    prefix = f"test:privacy:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(prefix + "forever", b"x")
        client.set(prefix + "bounded", b"x", ex=30)
        client.set("test:elsewhere:" + prefix, b"x")

        async def go() -> int:
            import redis.asyncio as aredis

            r = aredis.Redis.from_url(redis_url)
            try:
                return await redis_expire_unbounded(r, [prefix], 120)
            finally:
                await r.aclose()

        assert asyncio.run(go()) == 1
        assert 0 < client.ttl(prefix + "forever") <= 120
        assert client.ttl(prefix + "bounded") <= 30
        assert client.ttl("test:elsewhere:" + prefix) == -1
    finally:
        client.delete(prefix + "forever", prefix + "bounded", "test:elsewhere:" + prefix)
        client.close()


def test_the_purge_runs_on_schedule(up: FakeUpstream, tmp_path: Path) -> None:
    with GatewayServer({
        "state": {"database": f"sqlite:///{tmp_path / 's.db'}"},
        "providers": {"up": {"type": "openai_compatible", "base_url": up.base_url}},
        "models": {"chat": {"targets": ["up/m"]}},
        "privacy": {"retention": {"purge_interval_s": 0.2}},
    }) as gw:
        now = time.time()
        gw.run(gw.gateway.db.sql_execute(
            "INSERT INTO stored_bodies(ts, expires_at, request_id, alias, request) "
            "VALUES (?, ?, ?, ?, ?)", now - 10, now - 5, "old", "chat", "{}"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if gw.run(gw.gateway.db.sql_fetch("SELECT COUNT(*) FROM stored_bodies")) == [(0,)]:
                break
            time.sleep(0.05)
        assert gw.run(gw.gateway.db.sql_fetch("SELECT COUNT(*) FROM stored_bodies")) == [(0,)]
