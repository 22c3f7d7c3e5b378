"""Writing usage rows to the database without losing them when it is down.

The request path only appends a row to an in-memory queue (:meth:`UsageWriter.add`,
no I/O). One background task writes the queue in batches. When a write fails (the
database is down, slow or refusing) nothing is thrown away:

* the batch, and every row that arrives while the database stays down, goes to
  the local spill file (:mod:`bastion.observe.usage_spill`, written in a thread,
  only during the outage), or stays in the queue when no spill file is configured;
* the database is tried again with exponential backoff (0.25 s doubling up to
  ``retry_max_s``); once a write succeeds, the spill files (this process's and any
  left by processes that are gone) are written back and removed.

Rows carry a unique ``row_id``, so a write that failed after the database had in
fact committed it (a time-out, a dropped connection) is not counted twice when
retried. The queue is bounded (``queue_max``) and so are the spill files; rows
beyond both are dropped, counted in ``bastion_usage_rows_dropped`` and logged.
At shutdown the queue is written, or spilled when the database is still down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics
from bastion.observe.usage_spill import SpillFile
from bastion.stores.base import Database, UsageRow

_BATCH = 500
_FIRST_RETRY_S = 0.25
_WRITE_TIMEOUT_S = 10.0


class UsageWriter:
    """See the module docstring. ``spill=None`` keeps unwritten rows in memory only."""

    def __init__(self, db: Database, metrics: Metrics, spill: SpillFile | None = None, *,
                 queue_max: int = 100_000, retry_max_s: float = 30.0) -> None:
        self.db = db
        self.metrics = metrics
        self.spill = spill
        self.queue_max = queue_max
        self.retry_max_s = retry_max_s
        self.log = get_logger("bastion.usage")
        self._rows: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._retry_s = 0.0  # 0: the database works
        self._next_try = 0.0
        self._down_since = 0.0
        self._dropped = 0
        self._write_timeout_s = _WRITE_TIMEOUT_S

    @property
    def failing(self) -> bool:
        return self._retry_s > 0

    def add(self, row: UsageRow) -> None:
        """Queue ``row`` (no I/O; bounded)."""
        if len(self._rows) >= self.queue_max:
            self._drop(1)
            return
        self._rows.append(row)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self, timeout_s: float = 3.0) -> None:
        """Write what is queued (spill it if the database is down or slower than
        ``timeout_s``) and stop."""
        self._closing = True
        self._write_timeout_s = min(self._write_timeout_s, timeout_s)
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()  # a write in flight puts its rows back first
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        async with self._lock:
            if self._rows and not await self._write_queue():
                await self._keep(self._take(len(self._rows)))
        if self.spill is not None:
            self.spill.close()

    async def flush(self) -> None:
        """Write every queued and spilled row now (tests, reports). Raises the
        database's error when it fails; nothing is lost then."""
        async with self._lock:
            while self._rows:
                rows = self._take(_BATCH)
                try:
                    await self._write(rows)
                except BaseException:
                    self._rows[:0] = rows
                    raise
            if self.spill is not None and self.spill.pending:
                await self.spill.replay(self._write)

    # --- the background task ---

    async def _run(self) -> None:
        if self.spill is not None:
            await self.spill.scan()
            if self.spill.pending:
                self._wake.set()
        while not self._closing:
            if self.failing:
                wait = self._next_try - time.monotonic()
                if wait > 0:
                    # new rows are spilled in one go every half second, not one by one
                    await asyncio.sleep(min(wait, 0.5))
                    async with self._lock:
                        if self._rows and self.spill is not None:
                            await self._keep(self._take(len(self._rows)))
                    continue
            else:
                await self._wake.wait()
                self._wake.clear()
                await asyncio.sleep(0.05)  # gather a batch
            async with self._lock:
                ok = await self._write_queue()
                if ok and self.spill is not None and self.spill.pending:
                    ok = await self._replay()
            if ok:
                self._recovered()

    async def _write(self, rows: list[UsageRow]) -> None:
        async with asyncio.timeout(self._write_timeout_s):
            await self.db.record_usage(rows)

    async def _write_queue(self) -> bool:
        """Write the queue in batches; on failure keep the batch, back off, say False."""
        while self._rows:
            rows = self._take(_BATCH)
            try:
                await self._write(rows)
            except Exception as e:  # noqa: BLE001 - any store failure: keep the rows, retry
                self._failed(e, len(rows))
                await self._keep(rows)
                return False
            except BaseException:  # cancelled (shutdown): the rows wait in the queue again
                self._rows[:0] = rows
                raise
        return True

    async def _replay(self) -> bool:
        assert self.spill is not None
        try:
            n = await self.spill.replay(self._write)
        except Exception as e:  # noqa: BLE001 - any store failure: the rows stay spilled
            self._failed(e, 0)
            return False
        if n:
            self.log.info("usage_spill_replayed", rows=n)
        return True

    def _take(self, n: int) -> list[UsageRow]:
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    async def _keep(self, rows: list[UsageRow]) -> None:
        """Rows the database did not take: to the spill file, else back in the queue."""
        if self.spill is not None:
            try:
                kept = await self.spill.append(rows)
            except OSError as e:  # a full or read-only disk: the queue is all that is left
                self.log.error("usage_spill_failed", error=type(e).__name__, detail=str(e))
            else:
                self._drop(len(rows) - kept)
                return
        room = max(0, self.queue_max - len(self._rows))
        self._rows[:0] = rows[:room]
        self._drop(len(rows) - room)

    def _drop(self, n: int) -> None:
        if n <= 0:
            return
        self.metrics.usage_dropped.inc(n)
        if self._dropped == 0:
            self.log.error("usage_rows_dropped", rows=n, queue_max=self.queue_max,
                           spill=str(self.spill.dir) if self.spill is not None else None)
        self._dropped += n

    def _failed(self, e: Exception, rows: int) -> None:
        if not self.failing:
            self._down_since = time.monotonic()
            self.log.warning("usage_write_failed", error=type(e).__name__, rows=rows,
                             spill=str(self.spill.dir) if self.spill is not None else None)
        self._retry_s = min(self.retry_max_s, max(_FIRST_RETRY_S, self._retry_s * 2))
        self._next_try = time.monotonic() + self._retry_s

    def _recovered(self) -> None:
        if self.failing:
            self.log.info("usage_write_recovered",
                          down_s=round(time.monotonic() - self._down_since, 1),
                          dropped=self._dropped)
        self._retry_s = 0.0
        self._dropped = 0
