"""The capacity queue of one provider target: wait for room, by priority, to a deadline.

A request that fits under the target's limits goes at once (when nobody is
waiting). Otherwise it waits in a bounded heap ordered by priority (higher
first) and arrival (FIFO within a priority). One pump task per target serves
the head: it asks the ledger again when the ledger says room will free up
(at most every ``poll_s`` with a shared ledger, since other replicas and
settlements free room too), or when a local settlement wakes it.

Nothing waits forever: a full queue, a request that can never fit, or one
whose earliest chance is past its deadline is refused at once; a waiter whose
deadline passes leaves with :class:`~bastion.core.errors.RateLimited` and a
``Retry-After``. Depth and wait time go to ``Metrics.queue_depth``/``queue_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from dataclasses import dataclass, field

from bastion.core.errors import GatewayError, RateLimited
from bastion.observe.metrics import Metrics
from bastion.traffic.ledger import Charge
from bastion.traffic.shared import Reservation, SharedLedger

BUSY = ("The AI service is at capacity right now and this request could not be served in "
        "time. Please try again in a moment.")
TOO_BIG = ("This request needs more tokens than the AI provider's per-minute limit allows. "
           "Lower max_tokens or shorten the prompt.")

_ZERO = {"requests": 0, "tokens": 0, "input": 0, "output": 0}


@dataclass(slots=True)
class _Waiter:
    charges: list[Charge]
    rid: str
    fut: asyncio.Future[Reservation]
    hold_s: float
    since: float = field(default_factory=time.monotonic)


class CapacityQueue:
    """Admission to one target (see the module docstring)."""

    def __init__(self, target: str, ledger: SharedLedger, metrics: Metrics, max_depth: int,
                 poll_s: float, window_s: float, request_limit: int | None) -> None:
        self.target = target
        self.ledger = ledger
        self.metrics = metrics
        self.max_depth = max_depth
        self.poll_s = poll_s
        self.window_s = window_s
        self.request_limit = request_limit
        self.wake = asyncio.Event()
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._waiting = 0
        self._head_retry_at = 0.0
        self._pump: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._waiting

    def _estimate_wait(self, now: float) -> float:
        est = max(0.0, self._head_retry_at - now)
        if self.request_limit:
            est = max(est, (self._waiting // self.request_limit) * self.window_s)
        return est

    async def acquire(self, charges: list[Charge], rid: str, hold_s: float, priority: int,
                      deadline: float) -> Reservation:
        """A reservation of ``charges``, waiting until ``deadline`` (monotonic) at most."""
        now = time.monotonic()
        if not self._waiting:
            res = await self.ledger.reserve(charges, rid, hold_s)
            v = res.verdict
            if v.ok:
                return res
            if v.retry_after_s is None:
                raise RateLimited(TOO_BIG, retry_after_s=self.window_s)
            self._head_retry_at = now + v.retry_after_s
        elif self._waiting >= self.max_depth:
            raise RateLimited(BUSY, retry_after_s=self._estimate_wait(now) or 1.0)
        est = self._estimate_wait(now)
        if now + est > deadline:
            raise RateLimited(BUSY, retry_after_s=est)
        return await self._wait(charges, rid, hold_s, priority, deadline)

    async def _wait(self, charges: list[Charge], rid: str, hold_s: float, priority: int,
                    deadline: float) -> Reservation:
        w = _Waiter(charges, rid, asyncio.get_running_loop().create_future(), hold_s)
        if len(self._heap) > 2 * self.max_depth + 16:
            self._heap = [e for e in self._heap if not e[2].fut.done()]
            heapq.heapify(self._heap)
        heapq.heappush(self._heap, (-priority, next(self._seq), w))
        self._waiting += 1
        self.metrics.queue_depth.labels(self.target).set(self._waiting)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._serve())
        self.wake.set()
        got = False
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                res = await asyncio.shield(w.fut)
            got = True
            return res
        except TimeoutError:
            raise RateLimited(BUSY, retry_after_s=max(
                1.0, self._estimate_wait(time.monotonic()))) from None
        finally:
            if not got:
                if not w.fut.done():
                    w.fut.cancel()
                elif not w.fut.cancelled() and w.fut.exception() is None:
                    # served just as the caller left: give the room back
                    self.ledger.settle_soon(w.fut.result(), _ZERO)
            self._waiting -= 1
            self.metrics.queue_depth.labels(self.target).set(self._waiting)
            self.metrics.queue_wait.labels(self.target).observe(time.monotonic() - w.since)

    async def _serve(self) -> None:
        """The pump: serve the head of the heap until the heap is empty."""
        heap = self._heap
        while heap:
            w = heap[0][2]
            if w.fut.done():
                heapq.heappop(heap)
                continue
            try:
                res = await self.ledger.reserve(w.charges, w.rid, w.hold_s)
            except GatewayError as e:
                heapq.heappop(heap)
                if not w.fut.done():
                    w.fut.set_exception(e)
                continue
            v = res.verdict
            if w.fut.done():  # it left while we asked: give the room back
                if v.ok:
                    self.ledger.settle_soon(res, _ZERO)
                continue
            if v.ok:
                heapq.heappop(heap)
                w.fut.set_result(res)
                continue
            if v.retry_after_s is None:
                heapq.heappop(heap)
                w.fut.set_exception(RateLimited(TOO_BIG, retry_after_s=self.window_s))
                continue
            self._head_retry_at = time.monotonic() + v.retry_after_s
            pause = v.retry_after_s
            if self.ledger.shared:
                pause = min(pause, self.poll_s)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.001, pause)):
                    await self.wake.wait()

    async def aclose(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
