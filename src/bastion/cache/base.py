"""The storage protocol of the exact cache, and the entry it stores.

A backend is a bounded, expiring map from a key to opaque bytes. It knows nothing
of requests or answers: the cache step encodes an :class:`Entry` (the answer plus
when it stops being fresh) and the backend keeps the bytes for ``keep_s`` seconds
(fresh time plus the stale-if-error grace). A backend never raises on a store
failure: an unreachable store is a miss (``get`` → ``None``) and a dropped write.
"""

from __future__ import annotations

import time
from typing import Protocol

import msgspec

from bastion.core.types import ChatResponse


class CacheBackend(Protocol):
    """Bytes by key, each kept ``keep_s`` seconds at most (see the module docstring)."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, keep_s: float) -> None: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key`` (data-subject erasure); whether it was there."""
        ...

    async def aclose(self) -> None: ...


class Entry(msgspec.Struct, array_like=True):
    """One cached answer. ``fresh_until`` is wall-clock (shared stores span machines)."""

    response: ChatResponse
    stored_at: float
    fresh_until: float

    def fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.fresh_until


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    return _enc.encode(entry)


def decode_entry(data: bytes) -> Entry | None:
    """The entry, or ``None`` for bytes this version cannot read (treated as a miss)."""
    try:
        return _dec.decode(data)
    except msgspec.DecodeError:
        return None
