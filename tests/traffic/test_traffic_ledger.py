"""The ledger contract, run against the in-memory ledger and the Redis one (real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from bastion.traffic.ledger import Charge, Ledger, MemoryLedger
from bastion.traffic.ledger_redis import RedisLedger, connect


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    url = request.getfixturevalue("redis_url")
    client = connect(url, timeout_s=2.0)
    prefix = f"test:traffic:{uuid.uuid4().hex}:"
    try:
        yield RedisLedger(client, prefix, timeout_s=2.0)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def rpm(limit: int, window_ms: int = 60_000) -> Charge:
    return Charge("k:a:rpm", limit, 1, window_ms, label="key rpm")


def budget(limit: int, amount: int, **kw: object) -> Charge:
    return Charge("k:a:usd", limit, amount, label="key budget", unit="nano_usd",
                  **kw)  # type: ignore[arg-type]


async def test_window_admits_up_to_the_limit_then_says_when(ledger: Ledger) -> None:
    for i in range(3):
        v = await ledger.reserve([rpm(3)], f"r{i}", 60)
        assert v.ok
        assert v.remaining == [2 - i]
    v = await ledger.reserve([rpm(3)], "r3", 60)
    assert not v.ok
    assert v.failed == 0
    assert v.retry_after_s is not None
    assert 55 < v.retry_after_s <= 60


async def test_window_slides(ledger: Ledger) -> None:
    assert (await ledger.reserve([rpm(1, 300)], "a", 60)).ok
    assert not (await ledger.reserve([rpm(1, 300)], "b", 60)).ok
    await asyncio.sleep(0.35)
    assert (await ledger.reserve([rpm(1, 300)], "c", 60)).ok


async def test_all_or_nothing(ledger: Ledger) -> None:
    tight = Charge("u:x:rpm", 1, 1, 60_000)
    assert (await ledger.reserve([rpm(5), tight], "a", 60)).ok
    v = await ledger.reserve([rpm(5), tight], "b", 60)
    assert not v.ok
    assert v.failed == 1
    # the refused request took nothing from the key's window
    v = await ledger.reserve([rpm(5)], "c", 60)
    assert v.ok
    assert v.remaining == [3]


async def test_amount_over_limit_is_never_retryable(ledger: Ledger) -> None:
    v = await ledger.reserve([Charge("t:x:tpm", 100, 101, 60_000)], "a", 60)
    assert not v.ok
    assert v.retry_after_s is None


async def test_settle_frees_tokens_in_window(ledger: Ledger) -> None:
    def tpm(amount: int) -> Charge:
        return Charge("k:a:tpm", 100, amount, 60_000, unit="tokens")

    assert (await ledger.reserve([tpm(80)], "a", 60)).ok
    assert not (await ledger.reserve([tpm(30)], "b", 60)).ok
    await ledger.settle([tpm(80)], "a", [10])
    v = await ledger.reserve([tpm(30)], "b", 60)
    assert v.ok
    assert v.remaining == [60]


async def test_budget_reserve_then_settle_real_spend(ledger: Ledger) -> None:
    assert (await ledger.reserve([budget(100, 60)], "a", 60)).ok
    assert not (await ledger.reserve([budget(100, 60)], "b", 60)).ok  # held, not spent
    assert await ledger.settle([budget(100, 60)], "a", [25]) == []
    assert (await ledger.reserve([budget(100, 60)], "b", 60)).ok
    await ledger.settle([budget(100, 60)], "b", [60])
    v = await ledger.reserve([budget(100, 16)], "c", 60)
    assert not v.ok
    assert v.retry_after_s is None


async def test_unsettled_reservation_expires(ledger: Ledger) -> None:
    assert (await ledger.reserve([budget(100, 90)], "a", 0.2)).ok
    assert not (await ledger.reserve([budget(100, 90)], "b", 0.2)).ok
    await asyncio.sleep(0.3)
    assert (await ledger.reserve([budget(100, 90)], "b", 0.2)).ok


async def test_alert_fires_once_per_period(ledger: Ledger) -> None:
    c = budget(100, 25, alert_at=80)
    fired = []
    for i in range(4):
        assert (await ledger.reserve([c], f"r{i}", 60)).ok
        fired.append(await ledger.settle([c], f"r{i}", [25]))
    assert fired == [[], [], [], [0]]
    # a new period starts from zero and may alert again
    c2 = budget(100, 90, alert_at=80, period="p2", ttl_ms=60_000)
    assert (await ledger.reserve([c2], "n", 60)).ok
    assert await ledger.settle([c2], "n", [85]) == [0]


async def test_seed_from_usage_log(ledger: Ledger) -> None:
    c = budget(100, 10, seed_key_id="key_1")
    v = await ledger.reserve([c], "a", 60)
    assert not v.ok
    assert v.need_seed
    await ledger.seed(c, 95)
    await ledger.seed(c, 0)  # a second seed does not overwrite
    v = await ledger.reserve([c], "a", 60)
    assert not v.ok
    assert not v.need_seed
    assert (await ledger.reserve([budget(100, 5, seed_key_id="key_1")], "b", 60)).ok


async def test_concurrent_reservations_never_overspend(ledger: Ledger) -> None:
    c = budget(1000, 45)

    async def one(i: int) -> bool:
        v = await ledger.reserve([c], f"r{i}", 60)
        if v.ok:
            await ledger.settle([c], f"r{i}", [40])
        return v.ok

    results = await asyncio.gather(*(one(i) for i in range(200)))
    admitted = sum(results)
    assert 22 <= admitted <= 25  # 1000 // 40, minus what was held while others settled
    assert admitted * 40 <= 1000
