"""Breaker state shared through a real Redis, and what happens when Redis is gone."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest
import redis.asyncio

from bastion.observe.metrics import Metrics
from bastion.resilience.breaker import BreakerConfig, State
from bastion.resilience.breaker_redis import RedisBreakerBoard
from bastion.testing import Behavior, FakeUpstream, GatewayServer

CFG = BreakerConfig(failure_threshold=3, cooldown_s=0.3, half_open_probes=1)


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    p = f"test:breaker:{uuid.uuid4().hex}:"
    yield p
    r = redis.asyncio.from_url(redis_url)
    keys = [k async for k in r.scan_iter(match=p + "*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def test_replicas_agree_on_open_half_open_and_closed(redis_url: str, prefix: str) -> None:
    r1, r2 = redis.asyncio.from_url(redis_url), redis.asyncio.from_url(redis_url)
    a = RedisBreakerBoard(CFG, r1, Metrics(), prefix=prefix, refresh_s=0.0)
    b = RedisBreakerBoard(CFG, r2, Metrics(), prefix=prefix, refresh_s=0.0)
    t = "p/m"
    try:
        await a.failure(t)
        await b.failure(t)  # failures from two replicas add up
        assert await a.allow(t)
        assert await b.allow(t)
        await a.failure(t)
        assert a.get(t).state is State.OPEN
        assert not await b.allow(t)  # b learns it from Redis
        assert b.get(t).state is State.OPEN
        await asyncio.sleep(0.35)
        assert await b.allow(t)  # the one probe, shared...
        assert not await a.allow(t)  # ...so a may not probe too
        await b.success(t)
        assert await a.allow(t)
        assert a.get(t).state is State.CLOSED
    finally:
        await r1.aclose()
        await r2.aclose()


async def test_retry_after_opens_the_shared_breaker_for_that_long(
    redis_url: str, prefix: str,
) -> None:
    r1, r2 = redis.asyncio.from_url(redis_url), redis.asyncio.from_url(redis_url)
    a = RedisBreakerBoard(CFG, r1, prefix=prefix, refresh_s=0.0)
    b = RedisBreakerBoard(CFG, r2, prefix=prefix, refresh_s=0.0)
    try:
        await a.failure("p/m", open_for_s=0.8)
        await asyncio.sleep(0.4)  # longer than the cool-down, shorter than the advice
        assert not await b.allow("p/m")
        await asyncio.sleep(0.45)
        assert await b.allow("p/m")
    finally:
        await r1.aclose()
        await r2.aclose()


async def test_unreachable_redis_falls_back_to_local_state_without_hanging(
    closed_port: int,
) -> None:
    r = redis.asyncio.from_url(f"redis://127.0.0.1:{closed_port}/0")
    board = RedisBreakerBoard(CFG, r, timeout_s=0.2)
    started = time.monotonic()
    try:
        for _ in range(3):
            assert await board.allow("p/m")
            await board.failure("p/m")
        assert not await board.allow("p/m")  # the local breaker tripped
        assert not board.redis_ok
    finally:
        await r.aclose()
    assert time.monotonic() - started < 2.0


async def test_slow_redis_is_cut_by_the_timeout(redis_url: str, prefix: str) -> None:
    """A Redis busy with a slow script answers late: the board does not wait for it."""
    r, slow = redis.asyncio.from_url(redis_url), redis.asyncio.from_url(redis_url)
    board = RedisBreakerBoard(CFG, r, prefix=prefix, timeout_s=0.1, refresh_s=0.0)
    board.get("p/m").trip(None, "test")  # not closed: allow() must ask Redis
    try:
        busy = asyncio.create_task(slow.eval(
            "local function us() local t = redis.call('TIME') return t[1] * 1e6 + t[2] end "
            "local s = us() while us() - s < 300000 do end return 1", 0))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        assert not await board.allow("p/m")
        assert time.monotonic() - started < 0.25
        assert not board.redis_ok
        await busy
    finally:
        await r.aclose()
        await slow.aclose()


def test_two_gateways_share_a_breaker_through_redis(
    redis_url: str, upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[..., GatewayServer], settings_for: Callable[..., dict[str, Any]],
) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("status", status=500)
    settings = settings_for({"primary": primary.base_url, "secondary": secondary.base_url},
                            resilience={"breaker": {"failure_threshold": 2,
                                                    "cooldown_ms": 60000},
                                        "redis_prefix": f"test:gwbreaker:{uuid.uuid4().hex}:"})
    settings["state"] = {"database": "memory://", "redis": redis_url}
    one, two = gateway_factory(settings), gateway_factory(settings)
    for gw in (one, one, two, two):
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
        r = c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
        assert r.model == "secondary-model"
    assert primary.calls == 2  # the second gateway never called the primary
    state = httpx.get(two.base_url + "/admin/breakers",
                      headers={"Authorization": f"Bearer {two.master_key}"}).json()
    assert state["shared"]
    assert state["redis_ok"]
    assert {b["target"]: b["state"] for b in state["data"]}["primary/primary-model"] == "open"
    one.run(one.gateway.redis.delete(settings["resilience"]["redis_prefix"]
                                     + "primary/primary-model"))
