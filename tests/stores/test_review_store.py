"""The review queue on every engine: add, list, one decision wins, expiry and purge."""

from __future__ import annotations

import asyncio
import time

from bastion.stores.base import Database
from bastion.stores.review import ReviewItem, ReviewQueue, new_review_id


def item(ttl: float = 60.0, alias: str = "chat") -> ReviewItem:
    now = time.time()
    return ReviewItem(id=new_review_id(), created_at=now, expires_at=now + ttl,
                      purge_after=now + ttl, status="pending", reason="always", alias=alias,
                      dialect="openai", stream=True, request_id="r1", key_id="key_1",
                      user="u1", team="t1", confidence=0.42, signals=["hedging"],
                      prompt=[{"role": "user", "text": "hi"}], answer='{"id":"x"}')


async def test_add_get_list(db: Database) -> None:
    q = ReviewQueue(db)
    a, b = item(), item(alias="other")
    await q.add(a)
    await q.add(b)
    got = await q.get(a.id)
    assert got is not None
    assert (got.stream, got.user, got.signals, got.prompt, got.confidence) == (
        True, "u1", ["hedging"], [{"role": "user", "text": "hi"}], 0.42)
    assert {i.id for i in await q.list()} == {a.id, b.id}
    assert [i.id for i in await q.list(alias="other")] == [b.id]
    assert await q.count_pending() == 2
    assert await q.get("rev_nope") is None


async def test_only_one_of_two_concurrent_decisions_wins(db: Database) -> None:
    q = ReviewQueue(db)
    a = item()
    await q.add(a)
    results = await asyncio.gather(
        q.decide(a.id, "approved", actor="account:ann", final_answer="{}", note=None,
                 ttl_s=60),
        q.decide(a.id, "rejected", actor="account:bob", final_answer=None, note="no",
                 ttl_s=60))
    assert sorted(results) == [False, True]
    got = await q.get(a.id)
    assert got is not None
    assert (got.status, got.decided_by) in {("approved", "account:ann"),
                                            ("rejected", "account:bob")}
    assert [i.id for i in await q.list(status=got.status)] == [a.id]


async def test_expiry_and_purge_keep_the_decision_and_erase_the_text(db: Database) -> None:
    q = ReviewQueue(db)
    old, live = item(ttl=0.01), item()
    await q.add(old)
    await q.add(live)
    await asyncio.sleep(0.05)
    assert [i.id for i in await q.list()] == [live.id]
    assert [i.id for i in await q.list(status="expired")] == [old.id]
    assert not await q.decide(old.id, "approved", actor="a", final_answer="{}", note=None,
                              ttl_s=1)
    assert await q.purge() == 1
    got = await q.get(old.id)
    assert got is not None
    assert (got.status, got.answer, got.prompt) == ("expired", None, None)
    kept = await q.get(live.id)
    assert kept is not None
    assert kept.answer == '{"id":"x"}'
