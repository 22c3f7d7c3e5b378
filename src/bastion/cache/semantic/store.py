"""Where semantic-cache vectors live: one small protocol, and the in-memory index.

A vector points at an exact-cache entry (``entry_key``) and carries the cached
*question* (and, for a question that depends on its conversation, that
conversation's *context*: see :mod:`.context`), which the verifier compares with
a new request.
``nearest`` returns the ``k`` most similar vectors of one *partition* whose
cosine reaches ``floor``; the verifier, not the cosine, decides which (if any)
answers. Each entry may carry its own acceptance threshold, moved by shadow
verification (:mod:`.shadow`).

The memory index (one per worker process, bounded by ``max_entries`` in all)
keeps one float32 matrix per partition. Up to
:data:`FLAT_MAX` vectors it scans them all (one matrix-vector product); past
that it also keeps each vector projected on the partition's first
:data:`REDUCED_DIMS` principal components (computed from the partition's own
vectors, in a worker thread, and again each time the partition has grown
fourfold), scans those, and re-ranks exactly the best :data:`RERANK` of those
within :data:`ROUGH_MARGIN` of the floor: a lookup among 100,000 entries then
costs about a millisecond on one core.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from bastion.cache.semantic.minilm import numpy_module
from bastion.core.offload import run_bounded

FLAT_MAX = 4096
REDUCED_DIMS = 32
RERANK = 256
ROUGH_MARGIN = 0.2
_SWEEP_EVERY_S = 30.0


@dataclass(slots=True)
class Candidate:
    """A cached question near the new one."""

    entry_key: str
    similarity: float
    question: str
    context: str
    threshold: float | None  # this entry's own acceptance threshold, if moved
    words: bytes = b""  # the question's packed word vectors (:mod:`.words`), if any


class VectorStore(Protocol):
    """Nearest-neighbour lookup within a partition (see the module docstring)."""

    name: str

    async def nearest(self, partition: str, vector: list[float], k: int,
                      floor: float) -> list[Candidate]: ...

    async def add(self, partition: str, vector: list[float], entry_key: str, question: str,
                  context: str, keep_s: float, words: bytes = b"") -> None: ...

    async def set_threshold(self, partition: str, entry_key: str, threshold: float) -> None: ...

    async def aclose(self) -> None: ...


def _np() -> Any:
    # numpy is the optional ``semantic`` extra, imported when a semantic alias exists,
    # with one BLAS thread (see numpy_module): BLAS threads spinning beside the event
    # loop made a 10,000-row scan take 10 ms instead of 0.1 ms on a busy machine.
    return numpy_module()


@dataclass(slots=True)
class _Item:
    entry_key: str
    question: str
    context: str
    expires: float
    threshold: float | None = None
    words: bytes = b""


class _Part:
    """One partition: vectors in a growing matrix, items beside them (same order)."""

    def __init__(self, dims: int) -> None:
        np = _np()
        self.vecs = np.zeros((16, dims), dtype=np.float32)
        self.items: list[_Item] = []
        self.where: dict[str, int] = {}
        self.proj: Any = None
        self.reduced: Any = None
        self.proj_at = 0

    def __len__(self) -> int:
        return len(self.items)

    def add(self, vec: Any, item: _Item) -> None:
        np = _np()
        n = len(self.items)
        if n == self.vecs.shape[0]:
            self.vecs = np.concatenate([self.vecs, np.zeros_like(self.vecs)])
            if self.reduced is not None:
                self.reduced = np.concatenate([self.reduced, np.zeros_like(self.reduced)])
        self.vecs[n] = vec
        if self.reduced is not None:
            self.reduced[n] = vec @ self.proj
        self.items.append(item)
        self.where[item.entry_key] = n

    def remove(self, i: int) -> None:
        """Swap-remove row ``i``."""
        last = len(self.items) - 1
        gone = self.items[i]
        del self.where[gone.entry_key]
        if i != last:
            moved = self.items[last]
            self.items[i] = moved
            self.where[moved.entry_key] = i
            self.vecs[i] = self.vecs[last]
            if self.reduced is not None:
                self.reduced[i] = self.reduced[last]
        self.items.pop()

    def project(self, proj: Any) -> None:
        n = len(self.items)
        self.proj = proj
        self.reduced = self.vecs @ proj
        self.proj_at = n

    def search(self, q: Any, k: int, floor: float) -> list[tuple[int, float]]:
        """The ``k`` best rows with a cosine of at least ``floor``, best first."""
        np = _np()
        n = len(self.items)
        if self.reduced is not None and n > FLAT_MAX:
            rough = self.reduced[:n] @ (q @ self.proj)
            # Projected cosines err by a few hundredths: keep a wide margin, then
            # re-rank the best of those exactly.
            pool = np.flatnonzero(rough >= floor - ROUGH_MARGIN)
            if len(pool) > RERANK:
                pool = pool[np.argpartition(rough[pool], -RERANK)[-RERANK:]]
            sims = self.vecs[pool] @ q
        else:
            pool = np.arange(n)
            sims = self.vecs[:n] @ q
        if len(sims) > k:
            top = np.argpartition(sims, -k)[-k:]
            pool, sims = pool[top], sims[top]
        order = np.argsort(-sims)
        return [(int(pool[j]), float(sims[j])) for j in order if sims[j] >= floor]


def principal_axes(vecs: Any, dims: int) -> Any:
    """The first ``dims`` principal directions of ``vecs`` (a ``[d, dims]`` matrix)."""
    np = _np()
    sample = vecs[:: max(1, len(vecs) // 4096)]
    _, _, vt = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)
    return np.ascontiguousarray(vt[:dims].T.astype(np.float32))


class MemoryVectorStore:
    """The in-memory index (see the module docstring), bounded by ``max_entries`` in
    all (the oldest partition loses its oldest entries first). One per worker."""

    name = "memory"

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._parts: OrderedDict[str, _Part] = OrderedDict()
        self._count = 0
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return self._count

    async def nearest(self, partition: str, vector: list[float], k: int,
                      floor: float) -> list[Candidate]:
        part = self._parts.get(partition)
        if part is None or not len(part):
            return []
        self._parts.move_to_end(partition)
        q = _np().asarray(vector, dtype=_np().float32)
        now = time.monotonic()
        out: list[Candidate] = []
        for i, sim in part.search(q, k, floor):
            item = part.items[i]
            if item.expires > now:
                out.append(Candidate(item.entry_key, sim, item.question, item.context,
                                     item.threshold, item.words))
        return out

    async def add(self, partition: str, vector: list[float], entry_key: str, question: str,
                  context: str, keep_s: float, words: bytes = b"") -> None:
        np = _np()
        now = time.monotonic()
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Part(len(vector))
        self._parts.move_to_end(partition)
        old = part.where.get(entry_key)
        if old is not None:
            part.remove(old)
            self._count -= 1
        part.add(np.asarray(vector, dtype=np.float32), _Item(entry_key, question, context,
                                                              now + keep_s, None, words))
        self._count += 1
        if len(part) > FLAT_MAX and len(part) >= 4 * max(part.proj_at, FLAT_MAX // 4):
            n = len(part)
            proj = await run_bounded(n * part.vecs.shape[1], principal_axes,
                                     part.vecs[:n].copy(), REDUCED_DIMS)
            part.project(proj)
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_EVERY_S
            self._sweep(now)
        while self._count > self.max_entries:
            self._evict_one()

    def _sweep(self, now: float) -> None:
        for key in list(self._parts):
            part = self._parts[key]
            for i in range(len(part) - 1, -1, -1):
                if part.items[i].expires <= now:
                    part.remove(i)
                    self._count -= 1
            if not len(part):
                del self._parts[key]

    def _evict_one(self) -> None:
        # The least recently used partition loses its first row: one of its oldest
        # (rows move only when a removal swaps the last row into a gap).
        key, part = next(iter(self._parts.items()))
        part.remove(0)
        self._count -= 1
        if not len(part):
            del self._parts[key]

    async def set_threshold(self, partition: str, entry_key: str, threshold: float) -> None:
        part = self._parts.get(partition)
        i = part.where.get(entry_key) if part is not None else None
        if part is not None and i is not None:
            part.items[i].threshold = threshold

    async def aclose(self) -> None:
        self._parts.clear()
        self._count = 0
