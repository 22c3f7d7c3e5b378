"""The shared exact-cache backend on Redis: ``SET key value PX keep`` under a namespace.

Redis being slow or unreachable never fails a request: the lookup is a miss and the
write is dropped. The first failure is logged (once per outage), and for one second
after a failure Redis is not asked at all, so an outage costs no time per request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import RedisError

from bastion.observe.logging import get_logger

_log = get_logger("bastion.cache")
_RETRY_AFTER_S = 1.0


class RedisBackend:
    """Entries under ``<namespace>:<key>``; ``client`` is a ``redis.asyncio.Redis``."""

    name = "redis"

    def __init__(self, client: Any, namespace: str, timeout_s: float) -> None:
        self.client = client
        self.prefix = namespace + ":"
        self.timeout_s = timeout_s
        self._down_until = 0.0
        self._down = False

    def _available(self) -> bool:
        return not self._down or time.monotonic() >= self._down_until

    def _failed(self, err: BaseException) -> None:
        self._down_until = time.monotonic() + _RETRY_AFTER_S
        if not self._down:
            self._down = True
            _log.warning("cache_store_unreachable", backend="redis", error=type(err).__name__)

    def _ok(self) -> None:
        if self._down:
            self._down = False
            _log.info("cache_store_recovered", backend="redis")

    async def get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            async with asyncio.timeout(self.timeout_s):
                value = await self.client.get(self.prefix + key)
        except (RedisError, OSError, TimeoutError) as e:
            self._failed(e)
            return None
        self._ok()
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, keep_s: float) -> None:
        if not self._available():
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.client.set(self.prefix + key, value, px=max(1, round(keep_s * 1000)))
        except (RedisError, OSError, TimeoutError) as e:
            self._failed(e)
            return
        self._ok()

    async def delete(self, key: str) -> bool:
        """Erasure must not be silently skipped: a Redis error propagates."""
        async with asyncio.timeout(max(self.timeout_s, 2.0)):
            return bool(await self.client.delete(self.prefix + key))

    async def aclose(self) -> None:
        return None  # the client belongs to the gateway
