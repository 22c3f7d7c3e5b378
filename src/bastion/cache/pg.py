"""One lazily opened asyncpg pool for the cache's PostgreSQL tables, failing soft.

:meth:`PgPool.run` gives a connection to a callback; when PostgreSQL is down or slow
it returns ``None`` instead of raising (logged once per outage, and not retried for a
second), so the cache degrades to a miss and never fails a request.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from bastion.observe.logging import get_logger

T = TypeVar("T")
_log = get_logger("bastion.cache")
_RETRY_AFTER_S = 1.0
Setup = Callable[[Any], Awaitable[None]]


def table_name(namespace: str, suffix: str) -> str:
    """A safe SQL identifier from the configured namespace (``bastion:cache`` →
    ``bastion_cache_<suffix>``)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{namespace}_{suffix}".lower())[:60]


class PgPool:
    """Opens the pool on first use and runs every ``setup`` (DDL) once on it."""

    def __init__(self, dsn: str, timeout_s: float) -> None:
        self.dsn = dsn
        self.timeout_s = timeout_s
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._setups: list[Setup] = []
        self._down_until = 0.0
        self._down = False

    def on_open(self, setup: Setup) -> None:
        self._setups.append(setup)

    async def _get(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
                async with pool.acquire() as conn:
                    for setup in self._setups:
                        await setup(conn)
                self._pool = pool
        return self._pool

    async def run(self, fn: Callable[[Any], Awaitable[T]], timeout_s: float | None = None
                  ) -> T | None:
        """``await fn(conn)``, or ``None`` when PostgreSQL cannot answer in time."""
        if self._down and time.monotonic() < self._down_until:
            return None
        try:
            async with asyncio.timeout(timeout_s or self.timeout_s):
                pool = await self._get()
                async with pool.acquire() as conn:
                    result = await fn(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            self._down_until = time.monotonic() + _RETRY_AFTER_S
            if not self._down:
                self._down = True
                _log.warning("cache_store_unreachable", backend="postgres",
                             error=type(e).__name__)
            return None
        if self._down:
            self._down = False
            _log.info("cache_store_recovered", backend="postgres")
        return result

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
