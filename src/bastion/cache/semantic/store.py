"""Where semantic-cache vectors live: one small protocol, and the in-memory store.

A vector points at an exact-cache entry (``entry_key``); a semantic hit is the
nearest vector of the same *partition* (tenant scope + alias + every request field
but the last user message) whose cosine similarity reaches the threshold and,
when the guard is on, whose critical-token signature (``sig``) is equal.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True, frozen=True)
class Match:
    entry_key: str
    similarity: float


class VectorStore(Protocol):
    """Nearest-neighbour lookup within a partition (see the module docstring)."""

    name: str

    async def nearest(self, partition: str, vector: list[float], sig: str | None,
                      threshold: float) -> Match | None: ...

    async def add(self, partition: str, vector: list[float], sig: str, entry_key: str,
                  keep_s: float) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Item:
    vector: list[float]
    sig: str
    entry_key: str
    expires: float


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=False))


class MemoryVectorStore:
    """Brute-force cosine over unit vectors, bounded by ``max_entries`` in all and
    ``max_per_partition`` per partition (oldest first out). One per worker process."""

    name = "memory"

    def __init__(self, max_entries: int, max_per_partition: int = 512) -> None:
        self.max_entries = max_entries
        self.max_per_partition = max_per_partition
        self._parts: OrderedDict[str, list[_Item]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    async def nearest(self, partition: str, vector: list[float], sig: str | None,
                      threshold: float) -> Match | None:
        items = self._parts.get(partition)
        if not items:
            return None
        now = time.monotonic()
        best: Match | None = None
        for item in items:
            if item.expires <= now or (sig is not None and item.sig != sig):
                continue
            sim = dot(vector, item.vector)
            if sim >= threshold and (best is None or sim > best.similarity):
                best = Match(item.entry_key, sim)
        self._parts.move_to_end(partition)
        return best

    async def add(self, partition: str, vector: list[float], sig: str, entry_key: str,
                  keep_s: float) -> None:
        now = time.monotonic()
        items = self._parts.setdefault(partition, [])
        self._parts.move_to_end(partition)
        before = len(items)
        items[:] = [i for i in items if i.entry_key != entry_key and i.expires > now]
        items.append(_Item(vector, sig, entry_key, now + keep_s))
        if len(items) > self.max_per_partition:
            del items[0]
        self._count += len(items) - before
        while self._count > self.max_entries:
            oldest_key, oldest = next(iter(self._parts.items()))
            oldest.pop(0)
            self._count -= 1
            if not oldest:
                del self._parts[oldest_key]

    async def aclose(self) -> None:
        self._parts.clear()
        self._count = 0
