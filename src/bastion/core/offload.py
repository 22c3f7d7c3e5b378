"""Loop or thread: one rule for CPU work on request text (tokenising, scanning, detecting).

The event loop serves every request of a worker, so a step must never spend long
on it. The rule, for every detector, tokeniser and scanner that sees client or
provider text:

* The caller states the **total work** of the call: the characters (or bytes) of
  every input the function will look at, whatever field they sit in (message
  content, tool-call arguments, tool schemas, names, documents). When in doubt,
  use the request body's size (:attr:`Context.body_bytes`), an upper bound that
  costs nothing.
* Work up to :data:`WORK_INLINE_MAX` runs inline: a thread hop costs more than
  scanning a few kilobytes.
* Larger work runs in a small shared thread pool, so ``/healthz`` and every other
  request keep being served meanwhile (CPython switches threads every few
  milliseconds even while one holds the GIL).

A size *limit* (refusing input that is too big to judge at all) is the caller's
policy, not this module's; this module only decides where the work runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Inline up to this many characters/bytes of input (about 50-150 µs of regex scanning).
WORK_INLINE_MAX = 16 * 1024

class _Pool:
    """The process's worker threads, made on first use and forgotten in a forked child
    (a forked worker must not share its parent's threads)."""

    executor: ThreadPoolExecutor | None = None

    def get(self) -> ThreadPoolExecutor:
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=2,
                                               thread_name_prefix="bastion-offload")
        return self.executor

    def forget(self) -> None:
        self.executor = None


_pool = _Pool()
os.register_at_fork(after_in_child=_pool.forget)


def inline(work: int) -> bool:
    """Whether ``work`` characters of input are small enough to process on the loop."""
    return work <= WORK_INLINE_MAX


async def run_bounded(work: int, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, inline when ``work`` is small, else in a worker thread.

    Exceptions propagate unchanged either way.
    """
    if work <= WORK_INLINE_MAX:
        return fn(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool.get(), lambda: fn(*args, **kwargs))
