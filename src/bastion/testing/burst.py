"""``burst``: many requests at once against a gateway, for concurrency tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp


async def _burst(url: str, keys: Sequence[str], body: Any, timeout_s: float) -> list[int]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one(key: str) -> int:
            async with s.post(url, json=body, headers={"Authorization": f"Bearer {key}"},
                              timeout=aiohttp.ClientTimeout(total=timeout_s)) as r:
                await r.read()
                return r.status

        return list(await asyncio.gather(*(one(k) for k in keys)))


def burst(url: str, keys: Sequence[str], body: Any, timeout_s: float = 60.0) -> list[int]:
    """POST ``body`` to ``url`` once per key in ``keys``, all at once; the statuses in
    the order of ``keys``. Runs its own event loop: call it from a test, not a loop."""
    return asyncio.run(_burst(url, keys, body, timeout_s))
