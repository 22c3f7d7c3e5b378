"""Requests in flight, so a stopping server can let them finish and cut the rest cleanly.

The meter step registers every request while it runs (``enter``/``leave``: a set
add and remove, nothing else per request). At shutdown the server stops accepting,
waits for the set to empty, and when ``server.shutdown_timeout_s`` is nearly over
calls :meth:`Drain.cut`: each remaining request is marked as cut by the server and
its task cancelled. The meter turns that cancellation into
:class:`~bastion.core.errors.ServerShuttingDown`, so a whole answer becomes a 503
and a stream ends with an error event in the client's dialect; the usage log
records it as ``cut`` and bills what was delivered.
"""

from __future__ import annotations

import asyncio
import time

from bastion.core.context import Context

#: ``ctx.decisions`` key set on requests the server cut.
CUT = "cut_by_server"
_SWEEP_EVERY = 1024


class Drain:
    """Requests in flight by the task that serves them (one request per task). A
    request whose stream was never started (its client left before the first byte)
    never calls :meth:`leave`; such entries are dropped once their task is done, in a
    sweep every :data:`_SWEEP_EVERY` requests, so the table stays bounded."""

    def __init__(self) -> None:
        self._inflight: dict[asyncio.Task[object], Context] = {}
        self._entered = 0

    def enter(self, ctx: Context) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight[task] = ctx
            self._entered += 1
            if self._entered % _SWEEP_EVERY == 0:
                for t in [t for t in self._inflight if t.done()]:
                    del self._inflight[t]

    def leave(self, ctx: Context) -> None:
        task = asyncio.current_task()
        if task is not None and self._inflight.get(task) is ctx:
            del self._inflight[task]

    @property
    def count(self) -> int:
        return sum(1 for t in self._inflight if not t.done())

    async def wait_idle(self, until: float) -> bool:
        """Wait until nothing is in flight or the monotonic clock reaches ``until``."""
        # polled, only at shutdown: entries of finished tasks leave without an event
        while self._busy() and time.monotonic() < until:  # noqa: ASYNC110
            await asyncio.sleep(min(0.05, max(0.0, until - time.monotonic())))
        return not self._busy()

    def _busy(self) -> bool:
        return any(not t.done() for t in self._inflight)

    def cut(self) -> int:
        """Cut every request still in flight (see the module docstring)."""
        n = 0
        for task, ctx in list(self._inflight.items()):
            if not task.done() and not ctx.decisions.get(CUT):
                ctx.decisions[CUT] = True
                task.cancel()
                n += 1
        return n


def was_cut(ctx: Context) -> bool:
    """Whether the server cut ``ctx``; if so, undo the cancellation it used, so the
    request's task can still write its error and settle its usage."""
    if not ctx.decisions.get(CUT):
        return False
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        task.uncancel()
    return True
