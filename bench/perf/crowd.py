"""Two helper processes of the concurrency benchmark, each run alone on the load core:

* ``crowd``: opens N streams, ramped over ``ramp_s`` seconds, reads each to its end and
  reports how many completed (status 200, the last event ``[DONE]``, every token frame),
  the statuses of the others (and the end of one such answer), their durations and the
  most streams open at once;
* ``probe``: ``GET /healthz`` every ``every_s`` on one keep-alive connection (plain
  sockets, no event loop of its own to lag) until told to stop, and the round trips:
  while the gateway's event loop is busy, its ``/healthz`` answer waits, so the round
  trip bounds the loop's lag from above.

Self-contained (imports nothing of ``perf``): ``python crowd.py crowd|probe JSON``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from collections import Counter
from typing import Any


async def crowd(url: str, key: str, body: dict[str, Any], n: int, ramp_s: float,
                frames: int) -> dict[str, Any]:
    import aiohttp

    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    statuses: Counter[str] = Counter()
    samples: dict[str, str] = {}  # the end of one answer of each failed kind
    durations: list[float] = []
    open_now = peak = 0
    conn = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        async def one(i: int) -> None:
            nonlocal open_now, peak
            await asyncio.sleep(ramp_s * i / n)
            t = time.perf_counter()
            open_now += 1
            peak = max(peak, open_now)
            try:
                async with s.post(url, data=data, headers=headers) as r:
                    text = (await r.read()).decode(errors="replace")
                    ok = (r.status == 200 and text.rstrip().endswith("data: [DONE]")
                          and text.count('"content":"') >= frames)
                    outcome = "complete" if ok else f"status {r.status}, incomplete"
                    statuses[outcome] += 1
                    if not ok:
                        samples.setdefault(outcome, text[-300:])
            except (TimeoutError, aiohttp.ClientError) as e:
                statuses[type(e).__name__] += 1
                samples.setdefault(type(e).__name__, str(e)[:300])
            finally:
                open_now -= 1
            durations.append(time.perf_counter() - t)

        await asyncio.gather(*(one(i) for i in range(n)))
    durations.sort()
    return {"statuses": dict(statuses), "samples": samples, "peak_open": peak,
            "p50_s": durations[len(durations) // 2],
            "p99_s": durations[min(len(durations) - 1, int(0.99 * len(durations)))]}


def probe(port: int, every_s: float) -> dict[str, Any]:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    req = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    rtts: list[float] = []
    failures = 0
    sock = None
    while not stop:
        t = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(req)
            buf = b""
            while b"\r\n\r\n" not in buf or not buf.endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            rtts.append(time.perf_counter() - t)
        except OSError:
            failures += 1
            sock = None
        time.sleep(max(0.0, every_s - (time.perf_counter() - t)))
    rtts.sort()
    pick = (lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))] * 1000) if rtts else (
        lambda q: float("nan"))
    return {"probes": len(rtts), "failures": failures, "p50_ms": pick(0.5),
            "p99_ms": pick(0.99), "max_ms": rtts[-1] * 1000 if rtts else float("nan")}


def main() -> None:
    what, args = sys.argv[1], json.loads(sys.argv[2])
    if what == "crowd":
        from child import print_result  # run as a script: this folder is on sys.path

        print_result(lambda: crowd(args["url"], args["key"], args["body"], args["n"],
                                   args["ramp_s"], args["frames"]))
    else:
        print(json.dumps(probe(args["port"], args["every_s"])))


if __name__ == "__main__":
    main()
