"""Capacity left per counter (``SharedLedger.left``), the read ``routing: headroom`` makes:
in memory, in Redis, and while Redis is down; it never reserves anything. And
``GateHeadroom``: what replicas on Redis know of each other's spend, and how fresh."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from bastion.app import Gateway
from bastion.config.settings import Settings
from bastion.core.context import Context
from bastion.core.types import ChatRequest, Message
from bastion.traffic.headroom import FRESH_S, GateHeadroom
from bastion.traffic.ledger import Charge, MemoryLedger
from bastion.traffic.ledger_redis import RedisLedger, connect
from bastion.traffic.shared import SharedLedger


@pytest.fixture(params=["memory", "redis"])
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[SharedLedger]:
    if request.param == "memory":
        yield SharedLedger(None, MemoryLedger())
        return
    client = connect(request.getfixturevalue("redis_url"), timeout_s=2.0)
    prefix = f"test:traffic:{uuid.uuid4().hex}:"
    try:
        yield SharedLedger(RedisLedger(client, prefix, timeout_s=2.0), MemoryLedger())
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def rpm(key: str, limit: int, window_ms: int = 60_000, amount: int = 1) -> Charge:
    return Charge(key, limit, amount, window_ms, label="target rpm")


async def test_left_is_what_reserve_counts_and_reserves_nothing(shared: SharedLedger) -> None:
    a, b = rpm("t:a:rpm", 10), rpm("t:b:tpm", 1000, amount=250)
    assert await shared.left([a, b]) == [1.0, 1.0]  # counters that do not exist yet
    for i in range(4):
        assert (await shared.reserve([a, b], f"r{i}", 60)).verdict.ok
    assert await shared.left([a, b]) == [pytest.approx(0.6), pytest.approx(0.0)]
    assert await shared.left([a]) == [pytest.approx(0.6)]  # reading twice changes nothing
    for i in range(6):
        assert (await shared.reserve([a], f"s{i}", 60)).verdict.ok
    assert await shared.left([a]) == [0.0]
    assert not (await shared.reserve([a], "over", 60)).verdict.ok


async def test_left_sees_the_window_slide(shared: SharedLedger) -> None:
    c = rpm("t:c:rpm", 2, window_ms=300)
    for i in range(2):
        assert (await shared.reserve([c], f"r{i}", 60)).verdict.ok
    assert await shared.left([c]) == [0.0]
    await asyncio.sleep(0.35)
    assert await shared.left([c]) == [1.0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_while_redis_is_down_left_counts_here_against_a_share_of_the_limit() -> None:
    client = connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout_s=0.2)
    try:
        ledger = SharedLedger(RedisLedger(client, "x:", timeout_s=0.2), MemoryLedger(),
                              replicas=2)
        c = rpm("t:d:rpm", 10)
        assert await ledger.left([c]) == [1.0]  # marks Redis down, counts locally
        assert (await ledger.reserve([c], "r1", 60)).verdict.ok
        assert (await ledger.reserve([c], "r2", 60)).verdict.ok
        assert await ledger.left([c]) == [pytest.approx(1 - 2 / 5)]  # limit 10 / 2 replicas
        opened = SharedLedger(RedisLedger(client, "x:", timeout_s=0.2), MemoryLedger(),
                              rate_limits="open")
        assert await opened.left([c]) == [1.0]  # not counting: nothing known to be spent
    finally:
        await client.aclose()


async def test_replicas_see_each_others_spend_within_the_freshness_window(
    redis_url: str, redis_prefix: str,
) -> None:
    settings = Settings.model_validate({
        "state": {"database": "memory://", "redis": redis_url},
        "providers": {"p": {"type": "fake", "limits": {"rpm": 10}}},
        "models": {"chat": {"routing": "headroom", "targets": ["p/m", "p/n"]}},
        "traffic": {"redis_prefix": redis_prefix}, "logging": {"level": "warning"}})
    one, two = Gateway(settings), Gateway(settings)
    for gw in (one, two):
        await gw.start()
    try:
        a, b = (gw.route.router.link.source for gw in (one, two))
        assert isinstance(a, GateHeadroom)
        assert isinstance(b, GateHeadroom)
        assert await b.shares(["p/m"]) == [1.0]  # read from Redis, kept a while
        gate = one.route.capacity
        assert gate is not None
        for i in range(5):
            ctx = Context(request=ChatRequest(model="chat", messages=[
                Message(role="user", content="hi")]), request_id=f"r{i}")
            async with gate(ctx, "p/m"):
                pass
        assert await a.shares(["p/m", "p/n"]) == [0.5, 0.5]  # learned from its reservations
        assert await b.shares(["p/m"]) == [1.0]  # not read again yet
        await asyncio.sleep(FRESH_S + 0.02)
        assert await b.shares(["p/m"]) == [0.5]  # the other replica's spend, from Redis
    finally:
        for gw in (one, two):
            await gw.close()
