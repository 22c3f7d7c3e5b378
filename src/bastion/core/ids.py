"""Cheap unique ids for requests, messages and tool calls.

Unique, not secret: a random per-process prefix (renewed in forked workers) and a
counter. ``os.urandom`` per request costs tens of microseconds on some machines;
this costs well under one.
"""

from __future__ import annotations

import itertools
import os


class _IdSource:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_source = _IdSource()
os.register_at_fork(after_in_child=_source.reset)


def new_id() -> str:
    """A 32-hex-character id, unique across this machine's processes in practice."""
    return _source.next()
