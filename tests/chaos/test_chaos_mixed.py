"""Chaos: thousands of requests through randomly failing providers, none lost.

Real HTTP end to end: an aiohttp client → a real gateway → FakeUpstream servers
that fail on cue (429 with and without Retry-After, 500/502/503/504, resets, hangs,
slow first bytes, malformed JSON, streams cut or stalled mid-way) and a closed
port. Every request must end before its deadline with a correct answer, a degraded
answer or a friendly error; no connection may hang; no provider error text may
reach a client; and no task or socket may be left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

pytestmark = pytest.mark.chaos

REQUESTS = int(os.environ.get("BASTION_CHAOS_REQUESTS", "2000"))
CONCURRENCY = 64
TOTAL_S = 2.5  # the aliases' deadline
SLACK_S = 1.0  # scheduling on a busy 2-core machine (three servers and a client here)
STATIC = "Our assistant is busy right now. Please try again in a minute."
LEAKS = ("fake upstream failure", "127.0.0.1", "Traceback", "localhost", "model-down")

# (weight, behavior): about half the calls fail, in every way we know of.
MENU: list[tuple[int, Behavior]] = [
    (50, Behavior()),
    (5, Behavior(delay_s=0.05)),
    (4, Behavior("status", status=500)),
    (3, Behavior("status", status=502)),
    (3, Behavior("status", status=503, retry_after="0.1")),
    (3, Behavior("status", status=504)),
    (4, Behavior("status", status=429, retry_after="0.1")),
    (3, Behavior("status", status=429)),
    (3, Behavior("hang", delay_s=1.0)),
    (3, Behavior("slow_first_byte", delay_s=0.15)),
    (3, Behavior("slow_first_byte", delay_s=0.8)),
    (3, Behavior("malformed")),
    (4, Behavior("cut_stream")),
    (3, Behavior("reset")),
    (4, Behavior("stall_stream", delay_s=1.0)),
]


def chooser(seed: int) -> Any:
    rng = random.Random(seed)
    weights = [w for w, _ in MENU]
    behaviors = [b for _, b in MENU]
    return lambda: rng.choices(behaviors, weights)[0]


def socket_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return n


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tally:
    ok: int = 0
    degraded: int = 0
    friendly_errors: int = 0
    broken_streams: int = 0
    problems: list[str] = field(default_factory=list)
    slowest_s: float = 0.0


def check_error(body: dict[str, Any], text: str, anthropic: bool) -> str | None:
    err = body.get("error") or {}
    if err.get("code") != "upstream_unavailable":
        return f"unexpected error {text[:200]}"
    if anthropic and body.get("type") != "error":
        return f"not an Anthropic error {text[:200]}"
    return None


def judge_openai_stream(text: str, expected: str) -> tuple[str, str | None]:
    frames = [ln[6:] for ln in text.split("\n") if ln.startswith("data: ")]
    if not frames or frames[-1] != "[DONE]":
        return "bad", f"stream does not end with [DONE]: {text[-200:]}"
    events = [json.loads(f) for f in frames[:-1]]  # a truncated JSON line fails here
    if events and "error" in events[-1]:
        return "broken", check_error(events[-1], frames[-2], anthropic=False)
    got = "".join((c["choices"][0]["delta"].get("content") or "")
                  for c in events if c.get("choices"))
    if got == expected:
        return "ok", None
    return ("degraded", None) if got == STATIC else ("bad", f"wrong answer {got!r}")


def judge_anthropic_stream(text: str, expected: str) -> tuple[str, str | None]:
    events: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        data = [ln[6:] for ln in block.split("\n") if ln.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    if not events:
        return "bad", "empty Anthropic stream"
    if events[-1].get("type") == "error":
        return "broken", check_error(events[-1], text[-200:], anthropic=True)
    if events[-1].get("type") != "message_stop":
        return "bad", f"Anthropic stream does not end with message_stop: {text[-200:]}"
    got = "".join(e["delta"].get("text", "") for e in events
                  if e.get("type") == "content_block_delta")
    if got == expected:
        return "ok", None
    return ("degraded", None) if got == STATIC else ("bad", f"wrong answer {got!r}")


async def one(session: aiohttp.ClientSession, base: str, key: str, i: int, rng: random.Random,
              tally: Tally, anthropic_door: bool) -> None:
    alias = "chat" if rng.random() < 0.8 else "bare"
    stream = rng.random() < 0.5
    anthropic = anthropic_door and rng.random() < 0.3
    prompt = f"question number {i}"
    expected = f"You said: {prompt}"
    if anthropic:
        url, headers = base + "/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}
        payload: dict[str, Any] = {"model": alias, "max_tokens": 200, "stream": stream,
                                   "messages": [{"role": "user", "content": prompt}]}
    else:
        url, headers = base + "/v1/chat/completions", {"Authorization": f"Bearer {key}"}
        payload = {"model": alias, "stream": stream,
                   "messages": [{"role": "user", "content": prompt}]}
    started = time.monotonic()
    try:
        async with session.post(url, json=payload, headers=headers) as r:
            text = await r.text()
            status, degraded = r.status, r.headers.get("x-bastion-degraded")
            retry_after = r.headers.get("retry-after")
    except (TimeoutError, aiohttp.ClientError) as e:
        tally.problems.append(f"#{i} hung or broke: {type(e).__name__}")
        return
    elapsed = time.monotonic() - started
    tally.slowest_s = max(tally.slowest_s, elapsed)
    if elapsed > TOTAL_S + SLACK_S:
        problem: str | None = f"took {elapsed:.2f}s"
    elif any(leak in text for leak in LEAKS):
        problem = f"leaked provider detail: {text[:300]}"
    elif status == 503:
        problem = check_error(json.loads(text), text, anthropic) or (
            None if retry_after else "503 without Retry-After")
        tally.friendly_errors += problem is None
    elif status != 200:
        problem = f"status {status}: {text[:200]}"
    else:
        problem = judge_answer(text, expected, degraded, stream, anthropic, tally)
    if problem is not None:
        tally.problems.append(f"#{i} {alias} stream={stream} anthropic={anthropic}: {problem}")


def judge_answer(text: str, expected: str, degraded: str | None, stream: bool,
                 anthropic: bool, tally: Tally) -> str | None:
    """Judge a 200 answer: correct, degraded (and marked so) or a stream ended by an error."""
    if stream:
        judge = judge_anthropic_stream if anthropic else judge_openai_stream
        verdict, problem = judge(text, expected)
        if verdict == "degraded" and degraded != "static":
            problem = "static answer without x-bastion-degraded"
        tally.ok += verdict == "ok"
        tally.degraded += verdict == "degraded"
        tally.broken_streams += verdict == "broken" and problem is None
        return problem
    body = json.loads(text)
    got = body["content"][0]["text"] if anthropic else body["choices"][0]["message"]["content"]
    if got == expected and degraded is None:
        tally.ok += 1
    elif got == STATIC and degraded == "static":
        tally.degraded += 1
    else:
        return f"wrong answer {got!r} (degraded={degraded})"
    return None


async def drive(base: str, key: str, anthropic_door: bool) -> Tally:
    tally = Tally()
    rng = random.Random(1234)
    sem = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=TOTAL_S + 10)  # far past the deadline: a hang
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def bounded(i: int) -> None:
            async with sem:
                await one(session, base, key, i, rng, tally, anthropic_door)

        await asyncio.gather(*(bounded(i) for i in range(REQUESTS)))
    return tally


def settings(a: str, b: str, down: str) -> dict[str, Any]:
    timeouts = {"connect": 300, "first_byte": 400, "total": int(TOTAL_S * 1000)}
    return {
        "providers": {n: {"type": "openai_compatible", "base_url": u}
                      for n, u in (("a", a), ("b", b), ("down", down))},
        "models": {
            "chat": {"targets": ["a/model-a", "b/model-b", "down/model-down"],
                     "timeout_ms": timeouts, "fallback_message": STATIC},
            "bare": {"targets": ["b/model-b", "a/model-a"], "timeout_ms": timeouts},
        },
        "resilience": {
            "retry": {"base_delay_ms": 20, "max_delay_ms": 100, "max_retry_after_ms": 500},
            "breaker": {"failure_threshold": 8, "min_requests": 50, "failure_rate": 0.9,
                        "cooldown_ms": 200},
            "stream_idle_timeout_ms": 400,
        },
    }


async def gateway_tasks() -> int:
    return len(asyncio.all_tasks()) - 1  # less this probe


def test_mixed_traffic_through_failing_providers_loses_nothing() -> None:
    sockets_before = socket_fds()
    a, b = FakeUpstream().start(), FakeUpstream().start()
    a.chooser, b.chooser = chooser(1), chooser(2)
    gw = GatewayServer(settings(a.base_url, b.base_url, f"http://127.0.0.1:{closed_port()}"))
    gw.start()
    try:
        anthropic_door = any(r.canonical == "/v1/messages" for r in gw.app.router.resources())
        key = gw.create_key()
        tasks_before = gw.run(gateway_tasks())
        started = time.monotonic()
        tally = asyncio.run(drive(gw.base_url, key, anthropic_door))
        wall = time.monotonic() - started
        print(f"\nchaos: {REQUESTS} requests in {wall:.1f}s: {tally.ok} answered, "
              f"{tally.degraded} degraded, {tally.friendly_errors} friendly 503s, "
              f"{tally.broken_streams} streams ended with an error event; slowest "
              f"{tally.slowest_s:.2f}s; upstream calls a={a.calls} b={b.calls}; "
              f"anthropic door={'yes' if anthropic_door else 'no'}")
        assert not tally.problems, "\n".join(tally.problems[:20])
        assert tally.ok + tally.degraded + tally.friendly_errors + tally.broken_streams \
            == REQUESTS
        # about half the upstream calls fail and 429s open breakers: many degraded answers;
        # how many depends on timing (breaker cool-downs), so only a floor is asserted
        assert tally.ok > REQUESTS // 6
        assert tally.degraded
        assert tally.friendly_errors
        time.sleep(0.3)  # the server side of the client's closed connections winds down
        assert gw.run(gateway_tasks()) <= tasks_before, "tasks left on the gateway loop"
        for name, provider in gw.gateway.providers.items():
            # in-flight upstream connections: every response was released
            http = provider._http  # type: ignore[attr-defined]
            assert not http.session.connector._acquired, f"{name}: connections never released"
            assert http.in_use == 0, f"{name}: connection slots never released"
    finally:
        gw.stop()
        a.stop()
        b.stop()
    assert socket_fds() <= sockets_before, "sockets left open"
