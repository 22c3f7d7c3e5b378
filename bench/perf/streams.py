"""A fixed-rate SSE client: time to first byte and total time of each stream, measured from
the intended send time (no coordinated omission: a request that had to wait for a free
connection, or for a slow server, is timed from when it should have gone out).

Request ``i`` is due at ``t0 + i / rate``; at most ``connections`` are open at once
(keep-alive, aiohttp on uvloop). Times come from ``time.perf_counter`` (uvloop's own clock
moves in milliseconds). A request that finds a free connection is timed from when it
really went out (the sleep before it may end up to a millisecond late: the client's timer,
not the server's fault); one that had to wait for a connection, from its due time.
"First byte" is the first body bytes holding ``data:``
(the first SSE event), "total" the end of the body. Runs as its own process pinned to
the load core (``run()`` starts it; ``main()`` is that process), so its event loop never
shares a core with the system under test. Self-contained: it imports nothing of ``perf``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class StreamResult:
    rate: float
    done: int
    bad: int
    ttfb_p50_ms: float
    ttfb_p90_ms: float
    ttfb_p99_ms: float
    total_p50_ms: float
    total_p90_ms: float
    total_p99_ms: float


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


async def _measure(url: str, body: dict[str, Any], key: str, rate: float, seconds: float,
                   connections: int) -> dict[str, Any]:
    import aiohttp

    clock = time.perf_counter
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    data = json.dumps(body).encode()
    ttfb: list[float] = []
    total: list[float] = []
    bad = 0
    gate = asyncio.Semaphore(connections)
    conn = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as session:
        async with session.post(url, data=data, headers=headers) as r:  # untimed warm-up
            await r.read()
        t0 = clock() + 0.1

        async def one(i: int) -> None:
            nonlocal bad
            intended = t0 + i / rate
            await asyncio.sleep(max(0.0, intended - clock()))
            first = None
            queued = gate.locked()
            async with gate:
                start = intended if queued else clock()
                try:
                    async with session.post(url, data=data, headers=headers) as r:
                        async for chunk in r.content.iter_any():
                            if first is None and b"data:" in chunk:
                                first = clock()
                        end = clock()
                        ok = r.status == 200 and first is not None
                except aiohttp.ClientError:
                    ok = False
            if not ok or first is None:
                bad += 1
                return
            ttfb.append(first - start)
            total.append(end - start)

        await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
    return {"ttfb": ttfb, "total": total, "bad": bad}


def main() -> None:
    from child import print_result  # run as a script: this folder is on sys.path

    args = json.loads(sys.argv[1])
    print_result(lambda: _measure(args["url"], args["body"], args["key"], args["rate"],
                                  args["seconds"], args["connections"]))


def run(url: str, body: dict[str, Any], key: str, rate: float, seconds: float,
        connections: int = 64, core: str = "1") -> StreamResult:
    args = json.dumps({"url": url, "body": body, "key": key, "rate": rate,
                       "seconds": seconds, "connections": connections})
    out = subprocess.run(["taskset", "-c", core, sys.executable,  # noqa: S603, S607
                          str(Path(__file__).resolve()), args],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    t, tot = data["ttfb"], data["total"]
    return StreamResult(rate, len(t), data["bad"], _pct(t, 0.5), _pct(t, 0.9), _pct(t, 0.99),
                        _pct(tot, 0.5), _pct(tot, 0.9), _pct(tot, 0.99))


if __name__ == "__main__":
    main()
