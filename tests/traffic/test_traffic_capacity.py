"""Provider capacity: the gateway keeps its own traffic under a provider's limits, queues
what does not fit, and answers 429 with Retry-After when it cannot serve in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer

from .conftest import traffic_config

MSG = [{"role": "user", "content": "hello"}]


def max_in_any_window(times: list[float], window_s: float) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_s:
            j += 1
        best = max(best, i - j + 1)
    return best


async def burst(gw: GatewayServer, key: str, n: int, **kw: Any) -> list[tuple[int, Any]]:
    """``n`` concurrent requests; each ends as (200, None) or (status, error)."""
    client = openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0,
                                timeout=20)

    async def one(i: int) -> tuple[int, Any]:
        try:
            await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"hello {i}"}], **kw)
        except openai.APIStatusError as e:
            return e.status_code, e
        return 200, None

    try:
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 30)
    finally:
        await client.close()


@pytest.mark.parametrize("shared", [False, True])
def test_burst_of_three_times_rpm_never_exceeds_the_provider_limit(
    shared: bool, request: pytest.FixtureRequest,
    upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    redis_url = request.getfixturevalue("redis_url") if shared else None
    traffic: dict[str, Any] = {"window_s": 1.0}
    if shared:
        traffic["redis_prefix"] = request.getfixturevalue("redis_prefix")
    cfg = traffic_config({"up": up.base_url}, traffic=traffic,
                         providers={"up": {"limits": {"rpm": 10}}},
                         alias={"traffic": {"queue_timeout_ms": 1500}}, redis_url=redis_url)
    gw = gateway_factory(cfg)
    started = time.monotonic()
    results = asyncio.run(burst(gw, gw.create_key(), 30))
    elapsed = time.monotonic() - started

    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 429}
    for status, err in results:
        if status == 429:
            assert err.code == "rate_limit_exceeded"
            assert int(err.response.headers["retry-after"]) >= 1
            assert "try again" in err.message
    # the queue served more than one window's worth, and refused what could not fit in time
    assert 20 <= statuses.count(200) <= 30
    assert statuses.count(200) == up.calls
    # no window of the provider's saw more than its limit, less the jitter between
    # admission and arrival (up to 0.2 s on a loaded 2-core machine): without admission
    # control all 30 would land together
    assert max_in_any_window([r.at for r in up.received], 0.8) <= 10
    assert elapsed < 10


def test_priority_then_fifo(upstream_factory: Callable[[], FakeUpstream],
                            gateway_factory: Callable[[dict[str, Any]], GatewayServer]) -> None:
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url},
                         traffic={"window_s": 0.6, "users": {"vip": {"priority": 10}}},
                         providers={"up": {"limits": {"rpm": 1}}},
                         alias={"traffic": {"queue_timeout_ms": 5000}})
    gw = gateway_factory(cfg)
    plain, vip = gw.create_key(user="pat"), gw.create_key(user="vip")

    async def go() -> None:
        async def ask(key: str, text: str, delay: float) -> None:
            await asyncio.sleep(delay)
            async with openai.AsyncOpenAI(base_url=gw.openai_base_url, api_key=key,
                                          max_retries=0) as c:
                await c.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": text}])

        await asyncio.gather(ask(plain, "first", 0), ask(plain, "low-1", 0.1),
                             ask(plain, "low-2", 0.15), ask(vip, "high", 0.2))

    asyncio.run(go())
    order = [r.body["messages"][-1]["content"] for r in up.received]
    assert order == ["first", "high", "low-1", "low-2"]
    metrics = httpx.get(gw.base_url + "/metrics").text
    assert 'bastion_queue_wait_seconds_count{target="up/gpt-4o-mini"} 3.0' in metrics


def test_full_queue_and_hopeless_deadline_fail_fast(
    upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url},
                         traffic={"window_s": 3.0, "queue": {"max_depth": 0}},
                         providers={"up": {"limits": {"rpm": 1}}},
                         alias={"traffic": {"queue_timeout_ms": 500}})
    gw = gateway_factory(cfg)
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.5  # refused at once, not after the 0.5 s wait
    assert e.value.code == "rate_limit_exceeded"
    assert 2 <= int(e.value.response.headers["retry-after"]) <= 4
    assert up.calls == 1


def test_request_bigger_than_the_tpm_limit_is_refused(
    upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url},
                         targets=[{"target": "up/gpt-4o-mini", "limits": {"tpm": 500}}])
    gw = gateway_factory(cfg)
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    c.chat.completions.create(model="chat", messages=MSG, max_tokens=100)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="chat", messages=MSG, max_tokens=600)  # type: ignore[arg-type]
    assert "max_tokens" in e.value.message
    assert up.calls == 1


def test_tokens_settle_to_real_usage(upstream_factory: Callable[[], FakeUpstream],
                                     gateway_factory: Callable[[dict[str, Any]], GatewayServer],
                                     ) -> None:
    """A TPM limit that fits one worst case at a time still admits many small answers
    one after another, because each reservation settles to the real usage."""
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url},
                         targets=[{"target": "up/gpt-4o-mini", "limits": {"tpm": 400}}],
                         alias={"traffic": {"queue_timeout_ms": 0}})
    gw = gateway_factory(cfg)
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(), max_retries=0)
    for stream in (False, True, False, True, False):
        if stream:
            list(c.chat.completions.create(model="chat", messages=MSG,  # type: ignore[arg-type]
                                           max_tokens=300, stream=True))
        else:
            c.chat.completions.create(model="chat", messages=MSG, max_tokens=300)  # type: ignore[arg-type]
        time.sleep(0.05)  # a settle is applied after the answer is sent
    assert up.calls == 5
