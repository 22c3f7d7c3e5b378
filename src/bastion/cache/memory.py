"""The in-process exact-cache backend: an LRU bounded by entries and by bytes, with TTL."""

from __future__ import annotations

import time
from collections import OrderedDict


class MemoryBackend:
    """Least-recently-used eviction once ``max_entries`` or ``max_bytes`` would be passed.

    Values are the encoded bytes, so the byte bound is exact and a hit is a fresh
    copy that later steps may change freely. One per worker process.
    """

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return item[1]

    async def set(self, key: str, value: bytes, keep_s: float) -> None:
        size = len(value) + len(key)
        if size > self.max_bytes:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (time.monotonic() + keep_s, value)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._items)))

    async def delete(self, key: str) -> bool:
        if key not in self._items:
            return False
        self._drop(key)
        return True

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self._bytes -= len(value) + len(key)

    async def aclose(self) -> None:
        self._items.clear()
        self._bytes = 0
