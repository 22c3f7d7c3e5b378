"""Shadow verification's bookkeeping: answers compared, entries and the alias moved."""

from __future__ import annotations

import asyncio

from bastion.cache.semantic.shadow import (
    LOOSEN_MAX,
    MIN_CHECKS,
    TIGHTEN_MARGIN,
    Shadow,
    answers_agree,
)
from bastion.cache.semantic.store import MemoryVectorStore


def test_answers_agree_on_the_same_facts_only() -> None:
    assert answers_agree("Open 9 to 5, Monday to Friday.", "open 9 to 5,  monday to friday.")
    assert answers_agree("You can cancel it online in your account settings.",
                         "Cancel it online from the account settings page.")
    assert not answers_agree("The fee is £5.", "The fee is £50.")
    assert not answers_agree("Yes, dogs are allowed.", "No, dogs are not allowed.")


def test_learning_moves_the_entry_and_keeps_the_alias_in_budget() -> None:
    async def go() -> None:
        store = MemoryVectorStore(100)
        await store.add("p", [1.0, 0.0], "k", "q", "", 60)
        shadow = Shadow("chat", 1.0, 0.05, 0.4, store)
        await shadow.learn("p", "k", 0.5, None, agree=False)
        entry = (await store.nearest("p", [1.0, 0.0], 1, 0.0))[0]
        assert entry.threshold == 0.5 + TIGHTEN_MARGIN
        await shadow.learn("p", "k", 0.6, 0.3, agree=True)
        entry = (await store.nearest("p", [1.0, 0.0], 1, 0.0))[0]
        assert entry.threshold == 0.4 - LOOSEN_MAX  # loosened, never past the bound
        for _ in range(MIN_CHECKS):
            await shadow.learn("p", "k", 0.6, None, agree=False)
        assert shadow.stats.wrong_rate > 0.05
        assert shadow.threshold > 0.4  # over budget: the alias asks for more
        assert not Shadow("x", 0.0, 0.01, 0.4, store).wanted()

    asyncio.run(go())
