"""Each ``providers.X.fake`` setting changes what the built-in fake provider does, seen
through a real gateway and the official openai SDK (one provider call per request: no
retries, no breaker)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from bastion.testing import GatewayServer

SAY = [{"role": "user", "content": "hello"}]


def fake_gateway(fake: dict[str, Any]) -> GatewayServer:
    return GatewayServer({
        "providers": {"fake": {"type": "fake", "fake": fake}},
        "models": {"chat": {"targets": ["fake/m"]}},
        "resilience": {"retry": {"max_attempts": 1}, "breaker": {"enabled": False}},
    })


@pytest.fixture
def ask() -> Iterator[Callable[[dict[str, Any], int], list[Any]]]:
    """``ask(fake_settings, n)``: ``n`` requests to a fresh gateway; each ends as the
    raw response (200) or the SDK's APIStatusError (with ``timed``: and its seconds)."""
    gateways: list[GatewayServer] = []

    def run(fake: dict[str, Any], n: int = 1, timed: bool = False) -> list[Any]:
        gw = fake_gateway(fake).start()
        gateways.append(gw)
        c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                          max_retries=0, timeout=10)
        out: list[Any] = []
        for _ in range(n):
            t0 = time.monotonic()
            r: Any
            try:
                r = c.chat.completions.with_raw_response.create(
                    model="chat", messages=SAY)  # type: ignore[arg-type]
            except openai.APIStatusError as e:
                r = e
            out.append((r, time.monotonic() - t0) if timed else r)
        return out

    yield run
    for gw in gateways:
        gw.stop()


def ok(r: Any) -> bool:
    return not isinstance(r, openai.APIStatusError)


@pytest.mark.parametrize(("reply", "answer"), [(None, "You said: hello"),
                                                ("A fixed answer.", "A fixed answer.")])
def test_reply(ask: Callable[..., list[Any]], reply: str | None, answer: str) -> None:
    [r] = ask({"reply": reply})
    assert r.parse().choices[0].message.content == answer


@pytest.mark.parametrize(("fake", "slow"), [
    ({}, False),
    ({"latency_ms": 600}, True),
    ({"faults": [{"kind": "slow_first_byte"}]}, False),
    ({"faults": [{"kind": "slow_first_byte", "delay_ms": 600}]}, True),
])
def test_latency_ms_and_delay_ms(ask: Callable[..., list[Any]], fake: dict[str, Any],
                                 slow: bool) -> None:
    [(r, took)] = ask(fake, timed=True)
    assert ok(r)
    assert (took >= 0.6) is slow, took


@pytest.mark.parametrize(("status", "code", "http"), [
    (None, "upstream_unavailable", 503), (400, "upstream_rejected", 400)])
def test_fault_status(ask: Callable[..., list[Any]], status: int | None, code: str,
                      http: int) -> None:
    fault: dict[str, Any] = {"kind": "status"}
    if status is not None:
        fault["status"] = status
    [e] = ask({"faults": [fault]})
    assert (e.status_code, e.code) == (http, code)


@pytest.mark.parametrize(("retry_after_s", "header"), [(None, "5"), (7, "7")])
def test_fault_retry_after_s(ask: Callable[..., list[Any]], retry_after_s: float | None,
                             header: str) -> None:
    """The provider's advice reaches the client's Retry-After (5 s when it gives none)."""
    [e] = ask({"faults": [{"kind": "status", "status": 503, "retry_after_s": retry_after_s}]})
    assert e.status_code == 503
    assert e.response.headers["retry-after"] == header


@pytest.mark.parametrize(("times", "served"), [(None, [False] * 4),
                                               (2, [False, False, True, True])])
def test_fault_times(ask: Callable[..., list[Any]], times: int | None,
                     served: list[bool]) -> None:
    results = ask({"faults": [{"kind": "status", "times": times}]}, 4)
    assert [ok(r) for r in results] == served


def pattern(seed: int, rate: float, n: int) -> list[bool]:
    """Which of ``n`` calls are served when a fault fires at ``rate`` with dice ``seed``."""
    rng = random.Random(seed)  # the fake's fault dice
    return [rng.random() >= rate for _ in range(n)]


@pytest.mark.parametrize(("rate", "seed"), [(None, None), (0.0, None), (0.5, 1), (0.5, 2)])
def test_fault_rate_and_seed(ask: Callable[..., list[Any]], rate: float | None,
                             seed: int | None) -> None:
    fault: dict[str, Any] = {"kind": "status"}
    if rate is not None:
        fault["rate"] = rate
    fake: dict[str, Any] = {"faults": [fault]}
    if seed is not None:
        fake["seed"] = seed
    served = [ok(r) for r in ask(fake, 16)]
    if rate is None:  # every call
        assert served == [False] * 16
    elif rate == 0:  # never
        assert served == [True] * 16
    else:  # half of them, and which half is the seed's
        assert served == pattern(seed or 0, rate, 16)
        assert pattern(1, rate, 16) != pattern(2, rate, 16)
