"""Database outages become one gateway error, at the store boundary.

A store converts its driver's connection failures (refused, reset, timed out,
"the database system is shutting down", not connected yet) into
:class:`~bastion.core.errors.StoreUnavailable` (503 with ``Retry-After``), so no
caller ever sees a driver exception or answers 500 for an outage. Errors about
the query itself (a constraint, a syntax error) pass through unchanged.

:func:`converts_outages` wraps every public coroutine method of a store class once,
at import time, so methods added later are covered too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bastion.core.errors import StoreUnavailable

C = TypeVar("C", bound=type)


def converts_outages(is_outage: Callable[[BaseException], bool]) -> Callable[[C], C]:
    """A class decorator: outage errors (``is_outage``) of public coroutine methods are
    raised as :class:`StoreUnavailable` (chained, so the log keeps the cause)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except StoreUnavailable:
                raise
            except Exception as e:
                if is_outage(e):
                    raise StoreUnavailable() from e
                raise

        return guarded

    def decorate(cls: C) -> C:
        for name, fn in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(fn):
                setattr(cls, name, wrap(fn))
        return cls

    return decorate


class Opener:
    """Opens the database at start-up without making it a condition of starting.

    When the database cannot be reached, the gateway starts anyway: ``/readyz``
    says not ready, requests that need the database are answered 503 with
    ``Retry-After``, and the database is tried again in the background (backoff
    from 0.5 s up to 5 s) until it answers. Other failures (a schema newer than
    this code, a bad URL) still stop the start-up.
    """

    def __init__(self, db: Any, log: Any,
                 after_open: Callable[[], Awaitable[None]] | None = None) -> None:
        self.db = db
        self.log = log
        self.after_open = after_open  # start-up checks that need the database
        self.ready = False
        self._task: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        await self.db.open()
        if self.after_open is not None:
            await self.after_open()

    async def start(self) -> None:
        try:
            await self._open()
        except StoreUnavailable as e:
            cause = e.__cause__ or e
            self.log.warning("database_unavailable", phase="start",
                             error=type(cause).__name__, reason=str(cause)[:300],
                             detail="serving what needs no database; retrying in the background")
            self._task = asyncio.get_running_loop().create_task(self._retry())
            return
        self.ready = True

    async def _retry(self) -> None:
        wait = 0.5
        while True:
            await asyncio.sleep(wait)
            try:
                await self._open()
            except StoreUnavailable:
                wait = min(5.0, wait * 2)
                continue
            except Exception as e:  # noqa: BLE001 - log it and keep trying: never a dead task
                self.log.error("database_open_failed", error=type(e).__name__, detail=str(e))
                wait = 5.0
                continue
            self.ready = True
            self.log.info("database_connected", phase="retry")
            return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
