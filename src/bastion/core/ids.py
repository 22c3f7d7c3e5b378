"""Cheap unique, unguessable ids for requests, messages and tool calls.

An id is a keyed BLAKE2b hash of a per-process counter, under a random key
(renewed in forked workers): unique like the counter, but two ids say nothing
about how many requests came between them, so they reveal no traffic volume.
``os.urandom`` per request costs tens of microseconds on some machines; this
costs about one.
"""

from __future__ import annotations

import hashlib
import itertools
import os


class _IdSource:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.key = os.urandom(32)
        self.counter = itertools.count(1)

    def next(self) -> str:
        n = next(self.counter).to_bytes(16, "little")
        return hashlib.blake2b(n, digest_size=16, key=self.key).hexdigest()


_source = _IdSource()
os.register_at_fork(after_in_child=_source.reset)


def new_id() -> str:
    """A 32-hex-character id, unique across this machine's processes in practice."""
    return _source.next()
