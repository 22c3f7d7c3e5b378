"""core/offload.py: small work runs inline, large work in a thread, the loop keeps serving."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bastion.core.offload import WORK_INLINE_MAX, inline, run_bounded


def _thread_name() -> str:
    return threading.current_thread().name


async def test_small_work_runs_on_the_loop_thread() -> None:
    assert inline(WORK_INLINE_MAX)
    assert await run_bounded(100, _thread_name) == threading.current_thread().name


async def test_large_work_runs_in_a_worker_thread() -> None:
    assert not inline(WORK_INLINE_MAX + 1)
    name = await run_bounded(WORK_INLINE_MAX + 1, _thread_name)
    assert name.startswith("bastion-offload")


async def test_the_loop_keeps_serving_while_large_work_runs() -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    def busy() -> str:
        time.sleep(0.3)  # blocking: would freeze the loop if it ran inline
        return "done"

    task = asyncio.create_task(ticker())
    assert await run_bounded(10**7, busy) == "done"
    finished = time.monotonic()
    await task
    # Every tick ran while the blocking call was in its thread, none after it.
    assert len(ticks) == 5
    assert max(ticks) < finished


async def test_errors_propagate_from_either_place() -> None:
    def boom(n: int) -> int:
        raise ValueError(str(n))

    with pytest.raises(ValueError, match="1"):
        await run_bounded(1, boom, 1)
    with pytest.raises(ValueError, match="2"):
        await run_bounded(10**7, boom, 2)
