"""When Redis cannot be reached the gateway keeps answering, never hangs, and follows
``traffic.on_redis_error``: budgets fail closed, rate limits fall back to local limits
divided by ``state.replicas``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from bastion.testing import FakeUpstream, GatewayServer

from .conftest import traffic_config

MSG = [{"role": "user", "content": "hello"}]


def client(gw: GatewayServer, **key: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(**key),
                         max_retries=0, timeout=10)


def test_budgets_fail_closed_with_a_clear_answer(
    dead_redis: str, upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    gw = gateway_factory(traffic_config({"up": up.base_url}, redis_url=dead_redis))
    with pytest.raises(openai.RateLimitError) as e:
        client(gw, budget_usd=5.0).chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert e.value.code == "rate_limit_exceeded"
    assert "cannot check" in e.value.message
    assert int(e.value.response.headers["retry-after"]) >= 1
    # a key without a budget is still served
    r = client(gw).chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert r.choices[0].message.content
    assert up.calls == 1


def test_rate_limits_fall_back_to_a_share_of_the_limit(
    dead_redis: str, upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    cfg = traffic_config({"up": up.base_url}, redis_url=dead_redis)
    cfg["state"]["replicas"] = 2
    gw = gateway_factory(cfg)
    c = client(gw, rpm=4)
    c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as e:  # 4 per minute over 2 replicas: 2 here
        c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert e.value.code == "rate_limit_exceeded"
    assert up.calls == 2


def test_local_budgets_when_configured(
    dead_redis: str, upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    gw = gateway_factory(traffic_config({"up": up.base_url}, redis_url=dead_redis,
                                        traffic={"on_redis_error": {"budgets": "local"}}))
    r = client(gw, budget_usd=5.0).chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert r.choices[0].message.content


def test_a_hung_redis_costs_a_short_timeout_not_a_hang(
    silent_redis: str, upstream_factory: Callable[[], FakeUpstream],
    gateway_factory: Callable[[dict[str, Any]], GatewayServer],
) -> None:
    up = upstream_factory()
    gw = gateway_factory(traffic_config(
        {"up": up.base_url}, redis_url=silent_redis,
        traffic={"on_redis_error": {"timeout_ms": 200, "retry_s": 30}}))
    c = client(gw, rpm=100)
    started = time.monotonic()
    for _ in range(5):
        c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    # three slow calls mark Redis down; the rest use local limits at once
    assert time.monotonic() - started < 5 * 0.2 + 3.0
    assert up.calls == 5
