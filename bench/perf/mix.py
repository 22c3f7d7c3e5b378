"""The soak benchmark's client: a fixed rate of mixed requests for a given time, then the
outcome of each kind. Self-contained (``python mix.py JSON``), run alone on the load core.

Kinds (weights in :data:`MIX`): answers whose prompt is new each time at temperature 0
(a cache miss and a store: the cache churns through its bound), answers from a small set
of prompts at temperature 0 (cache hits), answers at temperature 0.7 (no cache), whole
streams, streams the client leaves after the first event, answers from an alias whose
provider fails 10 % of the time (``flaky``) or always drops the connection (``dropper``;
both fall back to a healthy target), answers the client leaves before they come, and
requests with a wrong key, each from another client address (the ``X-Real-IP`` header the
soak's config trusts), so the gateway's table of failing addresses stays bounded under churn
while the other requests' address is never blocked.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from typing import Any

MIX = {"unique": 25, "repeat": 10, "no_cache": 10, "stream": 15, "stream_leave": 10,
       "flaky": 10, "dropper": 5, "leave": 5, "bad_key": 5, "big": 5}


def request(kind: str, i: int) -> dict[str, Any]:
    text = {"unique": f"question number {i}: what is {i} + {i}?",
            "repeat": f"frequently asked question {i % 20}",
            "big": "Please summarise this report. " + "The quarter went well. " * 200,
            }.get(kind, "Tell me about lighthouses.")
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": text}],
                            "temperature": 0 if kind in ("unique", "repeat") else 0.7}
    if kind in ("stream", "stream_leave"):
        body.update(model="chat-stream", stream=True)
    if kind in ("flaky", "dropper"):
        body["model"] = kind
    return body


async def run(base: str, key: str, rate: float, seconds: float) -> dict[str, Any]:
    import aiohttp

    kinds = [k for k, w in MIX.items() for _ in range(w)]
    rng = random.Random(14)
    outcomes: Counter[str] = Counter()
    clock = time.perf_counter
    t0 = clock() + 0.1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as s:
        async def one(i: int) -> None:
            kind = rng.choice(kinds)
            await asyncio.sleep(max(0.0, t0 + i / rate - clock()))
            if kind == "bad_key":
                headers = {"Authorization": "Bearer bst_" + "0" * 43,
                           "X-Real-IP": f"198.18.{i // 250 % 250}.{i % 250}"}
            else:
                headers = {"Authorization": f"Bearer {key}", "X-Real-IP": "192.0.2.1"}
            try:
                async with s.post(base + "/v1/chat/completions", json=request(kind, i),
                                  headers=headers,
                                  timeout=aiohttp.ClientTimeout(
                                      total=0.005 if kind == "leave" else 60)) as r:
                    if kind == "stream_leave":
                        await r.content.readany()  # the first event, then leave
                        r.close()
                    else:
                        await r.read()
                    outcomes[f"{kind} {r.status}"] += 1
            except (TimeoutError, aiohttp.ClientError) as e:
                outcomes[f"{kind} {type(e).__name__}"] += 1

        tasks: set[asyncio.Task[None]] = set()
        for i in range(int(rate * seconds)):
            if len(tasks) > 2000:  # a stalled gateway must not grow this client
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            t = asyncio.create_task(one(i))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - clock() - 0.05))
        await asyncio.gather(*tasks)
    return dict(sorted(outcomes.items()))


def main() -> None:
    from child import print_result  # run as a script: this folder is on sys.path

    args = json.loads(sys.argv[1])
    print_result(lambda: run(args["base"], args["key"], args["rate"], args["seconds"]))


if __name__ == "__main__":
    main()
