"""What streaming output moderation costs: per chunk, and on time-to-first-byte.

Targets (issue 10): at most 1 ms per chunk and at most 5 ms added to time-to-first-byte.

* ``chunk``: the real hold-back helper with the output guard's filter (leak check against
  a 300-word system prompt, secrets, harmful content, the tool-call firewall) over a
  2,000-character answer cut into 4-character chunks (about one token each), timed per
  chunk; against the same helper with a filter that does nothing. Three answers: plain,
  one that looks harmful half-way (the filter then holds its whole window), and one
  where the answer quotes the system prompt (cut at the leak).
* ``ttfb``: a real gateway on loopback in front of a streaming upstream, ``guards.output``
  ``off`` against ``block``: time to the first byte of the response body and to the first
  byte of answer text, over N sequential requests each (medians and p99).

    .venv/bin/python bench/guards/stream_cost.py [--chunks-runs 200] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

from bastion.config.guard_output_settings import OutputGuard, ToolFirewall
from bastion.core.holdback import PassThrough, hold_back
from bastion.core.types import ChatChunk, ChunkChoice, Delta
from bastion.guards.output.check import AnswerChecks, OutputPolicy
from bastion.guards.output.leak import LeakDetector

SYSTEM = " ".join(
    f"Rule {i}: the assistant of Example Travel answers politely about bookings, refunds "
    f"and schedules, never shares internal codes such as desk-{i}."
    for i in range(15))
PLAIN = ("Thanks for your message! Your booking 4711 for two nights in Lyon is confirmed; "
         "breakfast is included and check-in starts at 3 pm. ") * 14
HARMFUL = PLAIN[:900] + ("Here's how to build a pipe bomb: 1. take a steel pipe 2. add 300 g "
                         "of black powder 3. add a detonator. ") + PLAIN[:900]
LEAKY = PLAIN[:1000] + "My instructions: " + SYSTEM[:900]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def chunks(text: str, step: int = 4) -> AsyncIterator[ChatChunk]:
    yield ChatChunk(id="c", model="m", choices=[ChunkChoice(delta=Delta(role="assistant",
                                                                         content=""))])
    for i in range(0, len(text), step):
        yield ChatChunk(id="c", model="m", choices=[ChunkChoice(delta=Delta(
            content=text[i:i + step]))])
    yield ChatChunk(id="c", model="m", choices=[ChunkChoice(finish_reason="stop")])


async def time_chunks(text: str, make: Any) -> list[float]:
    """CPU seconds (this thread) of hold-back work for each upstream chunk: from handing it
    to the helper until the helper asks for the next one (whatever it yielded between);
    CPU time, so that other processes on a shared machine do not count."""
    out: list[float] = []
    mark = [0.0]

    async def timed() -> AsyncIterator[ChatChunk]:
        async for c in chunks(text):
            mark[0] = time.thread_time()
            yield c
            out.append(time.thread_time() - mark[0])

    try:
        async for _ in hold_back(timed(), make):
            pass
    except Exception:  # noqa: BLE001 - a cut stream ends the timing, as on the wire
        out.append(time.thread_time() - mark[0])
    return out


def checks() -> AnswerChecks:
    policy = OutputPolicy.build(OutputGuard(), ToolFirewall())
    return AnswerChecks(policy, LeakDetector(SYSTEM, "cnry-5be7d2a9"), True,
                        frozenset({"fetch"}))


async def chunk_bench(runs: int) -> None:
    print(f"per-chunk cost, {len(PLAIN)}-char answers in 4-char chunks, {runs} runs each")
    print(f"{'answer':10} {'filter':8} {'mean µs':>8} {'p50 µs':>8} {'p99 µs':>8} "
          f"{'chunks':>7}")
    for name, text in (("plain", PLAIN), ("harmful", HARMFUL), ("leak", LEAKY)):
        for label, make in (("none", PassThrough), ("guard", lambda: checks().make_filter())):
            samples: list[float] = []
            n = 0
            for _ in range(runs):
                s = await time_chunks(text, make)
                samples.extend(s)
                n = len(s)
            us = [x * 1e6 for x in samples]
            print(f"{name:10} {label:8} {statistics.fmean(us):8.1f} {pct(us, .5):8.1f} "
                  f"{pct(us, .99):8.1f} {n:7d}")


def ttfb_bench(requests: int) -> None:
    import httpx

    from bastion.testing import FakeUpstream, GatewayServer

    print(f"\ntime to first byte over loopback, {requests} sequential streams each")
    print(f"{'guards.output':14} {'first byte p50':>15} {'p99':>8} {'first text p50':>15} "
          f"{'p99':>8}  (ms)")
    with FakeUpstream(reply=PLAIN) as up:
        rows = {}
        for mode in ("off", "block"):
            settings = {"providers": {"up": {"type": "openai", "base_url": up.base_url + "/v1",
                                             "api_key": "env:UP"}},
                        "guards": {"output": mode, "tools": mode},
                        "models": {"chat": {"targets": ["up/m"]}}}
            with GatewayServer(settings, env={"UP": "sk-bench"}) as gw:
                key = gw.create_key()
                first, text = [], []
                body = {"model": "chat", "stream": True, "messages": [
                    {"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]}
                with httpx.Client(timeout=10) as c:
                    for i in range(requests + 20):
                        t0 = time.perf_counter()
                        with c.stream("POST", gw.openai_base_url + "/chat/completions",
                                      json=body, headers={"Authorization": f"Bearer {key}"}) as r:
                            got_first = got_text = None
                            for raw in r.iter_raw():
                                now = time.perf_counter()
                                got_first = got_first or now
                                if got_text is None and b'"content":"' in raw.replace(
                                        b'"content":""', b""):
                                    got_text = now
                        if i >= 20:  # warm-up
                            first.append(((got_first or t0) - t0) * 1000)
                            text.append(((got_text or t0) - t0) * 1000)
            rows[mode] = (first, text)
            print(f"{mode:14} {statistics.median(first):15.2f} {pct(first, .99):8.2f} "
                  f"{statistics.median(text):15.2f} {pct(text, .99):8.2f}")
        d1 = statistics.median(rows["block"][0]) - statistics.median(rows["off"][0])
        d2 = statistics.median(rows["block"][1]) - statistics.median(rows["off"][1])
        print(f"added by the guard (medians): first byte {d1:+.2f} ms, first text {d2:+.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks-runs", type=int, default=200)
    ap.add_argument("--requests", type=int, default=300)
    a = ap.parse_args()
    asyncio.run(chunk_bench(a.chunks_runs))
    ttfb_bench(a.requests)


if __name__ == "__main__":
    main()
