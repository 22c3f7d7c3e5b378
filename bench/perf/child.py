"""What the helper processes (:mod:`perf.streams`, :mod:`perf.crowd`, :mod:`perf.mix`) share:
run a coroutine on uvloop and print its result as one JSON line. They are started as
scripts, so they import this as ``child`` (their own folder is on ``sys.path``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any


def print_result(make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(make())))
