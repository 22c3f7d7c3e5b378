"""Cutting stalled streams without a timer per chunk.

``asyncio.timeout`` around every chunk costs a timer and a context manager per
chunk. :class:`StallWatch` keeps one periodic check per stream instead: the
stream marks when it waits for the next chunk and when one arrived; the check
cancels the task only while it is waiting and the wait is older than the limit,
and the stream turns that cancellation into :class:`ProviderTimeout`.
"""

from __future__ import annotations

import asyncio
import time


class StallWatch:
    """One per stream. Use ``begin()``/``end()`` around each wait, ``close()`` at the end.

    While waiting, if no chunk came for ``idle_s`` seconds or the ``deadline``
    (a ``time.monotonic()`` instant, same clock as the loop's) passed, the task is
    cancelled; :meth:`stalled` then tells the caller to convert the
    ``CancelledError`` (and ``uncancel`` the task) rather than propagate it.
    """

    __slots__ = ("_deadline", "_handle", "_idle_s", "_loop", "_since", "_task", "_waiting",
                 "stalled")

    def __init__(self, idle_s: float, deadline: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._idle_s = idle_s
        # the deadline is on time.monotonic()'s clock; the checks run on the loop's
        self._deadline = (None if deadline is None
                          else self._loop.time() + (deadline - time.monotonic()))
        self._waiting = False
        self._since = self._loop.time()
        self.stalled = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(
            self._period(), self._check)

    def _period(self) -> float:
        return max(0.01, self._idle_s / 4)

    def begin(self) -> None:
        self._since = self._loop.time()
        self._waiting = True

    def end(self) -> None:
        self._waiting = False

    def _check(self) -> None:
        now = self._loop.time()
        late = self._deadline is not None and now >= self._deadline
        if self._waiting and (late or now - self._since >= self._idle_s):
            if self._task is not None and not self.stalled:
                self.stalled = True
                self._task.cancel()
            self._handle = None
            return
        self._handle = self._loop.call_later(self._period(), self._check)

    def consume_cancel(self) -> None:
        """Undo our own cancellation so the task can go on to report the stall."""
        if self._task is not None:
            self._task.uncancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
