"""Two reproductions of the security review's availability findings, with figures.

``streams``: N concurrent streams (30 chunks over about 3 s each) from one key to a
healthy provider, then 300 more requests: how many completed, how many were refused,
and whether the provider's circuit breaker opened. (It once was 256 completed, 744
refused after waiting for the 256-connection pool, and the breaker open.)

``lag``: three requests with 4 MB of text in ``tool_calls[].function.arguments``,
counted against a key with a token limit, while ``/healthz`` is polled: the longest
``/healthz`` round trip. (It once was 4.8 s for one request, 9.7 s for three.)

    python bench/hardening.py streams [--n 1000]
    python bench/hardening.py lag [--mb 4]

Both run the gateway and a fake provider in this process, on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.payloads import tool_call_request


async def _slow_stream(up: FakeUpstream, request: web.Request, body: Any,
                       b: Behavior) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i in range(30):
        chunk = ('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
                 f'"choices":[{{"index":0,"delta":{{"content":"w{i} "}}}}]}}')
        await resp.write(b"data: " + chunk.encode() + b"\n\n")
        await asyncio.sleep(0.1)
    await resp.write(b'data: {"id":"c","object":"chat.completion.chunk","created":1,'
                     b'"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
                     b'"usage":{"prompt_tokens":3,"completion_tokens":30,"total_tokens":33}}'
                     b"\n\ndata: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def _streams(url: str, key: str, n: int, stream: bool) -> Counter[int]:
    body = {"model": "chat", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one() -> int:
            async with s.post(url, json=body, headers={"Authorization": f"Bearer {key}"},
                              timeout=aiohttp.ClientTimeout(total=120)) as r:
                await r.read()
                return r.status

        return Counter(await asyncio.gather(*(one() for _ in range(n))))


def streams(n: int) -> None:
    with FakeUpstream(routes={"/chat/completions": _slow_stream}) as up:
        settings = {"providers": {"p": {"type": "openai_compatible", "base_url": up.base_url}},
                    "models": {"chat": {"targets": ["p/m"]}}}
        with GatewayServer(settings) as gw:
            key = gw.create_key()
            url = gw.openai_base_url + "/chat/completions"
            started = time.monotonic()
            first = asyncio.run(_streams(url, key, n, True))
            took = time.monotonic() - started
            after = asyncio.run(_streams(url, key, 300, True))
            state = httpx.get(gw.base_url + "/admin/breakers",
                              headers={"Authorization": f"Bearer {gw.master_key}"}).json()
    breaker = [b["state"] for b in state["data"] if b["target"] == "p/m"]
    print(f"{n} concurrent streams: {dict(first)} in {took:.1f} s; "
          f"300 after: {dict(after)}; breaker: {breaker}")


def lag(mb: float) -> None:
    settings = {"providers": {"p": {"type": "fake"}}, "models": {"chat": {"targets": ["p/gpt-4o"]}},
                "server": {"max_body_bytes": 8 * 1024 * 1024}}
    body = tool_call_request(int(mb * 1024 * 1024))
    with GatewayServer(settings) as gw:
        key = gw.create_key(tpm=1000)
        url = gw.openai_base_url + "/chat/completions"

        def big(_: int) -> int:
            return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"},
                              timeout=120).status_code

        statuses: list[int] = []
        worker = threading.Thread(
            target=lambda: statuses.extend(ThreadPoolExecutor(3).map(big, range(3))))
        worst = 0.0
        with httpx.Client(base_url=gw.base_url, timeout=60) as client:
            worker.start()
            while worker.is_alive():
                t = time.monotonic()
                client.get("/healthz")
                worst = max(worst, time.monotonic() - t)
                time.sleep(0.02)
    print(f"3 x {mb} MB of tool-call arguments: answers {statuses}; "
          f"longest /healthz round trip {worst:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("streams")
    s.add_argument("--n", type=int, default=1000)
    lg = sub.add_parser("lag")
    lg.add_argument("--mb", type=float, default=4.0)
    a = ap.parse_args()
    if a.what == "streams":
        streams(a.n)
    else:
        lag(a.mb)


if __name__ == "__main__":
    main()
