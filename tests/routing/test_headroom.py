"""``routing: headroom`` over real HTTP: requests go where capacity is left, across two
replicas sharing Redis, and spill to the next target instead of queueing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import SAY, request_lines, routing_settings


def settings(ups: dict[str, FakeUpstream], redis_url: str | None = None,
             prefix: str = "") -> dict[str, Any]:
    cfg = routing_settings(ups, {"routing": "headroom", "traffic": {"queue_timeout_ms": 5000}})
    cfg["providers"]["one"]["limits"] = {"rpm": 3}
    cfg["providers"]["two"]["limits"] = {"rpm": 100}
    cfg["models"]["direct"] = {"targets": ["one/one-model"]}
    cfg["models"]["chat_ordered"] = {"targets": ["one/one-model", "two/two-model"],
                                     "traffic": {"queue_timeout_ms": 300}}
    if redis_url:
        cfg["state"] = {"database": "memory://", "redis": redis_url}
        cfg["traffic"] = {"redis_prefix": prefix + "t:"}
        cfg["resilience"] = {"redis_prefix": prefix + "b:"}
    return cfg


def ask(gw: GatewayServer, key: str, model: str = "chat") -> Any:
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0, timeout=10)
    return c.chat.completions.create(model=model, messages=SAY)  # type: ignore[arg-type]


def test_two_replicas_send_requests_where_capacity_is_left(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    redis_url: str, redis_prefix: str, captured: Any,
) -> None:
    ups = {"one": upstream_factory(), "two": upstream_factory()}
    a = gateway_factory(settings(ups, redis_url, redis_prefix))
    b = gateway_factory(settings(ups, redis_url, redis_prefix))
    key_a, key_b = a.create_key(), b.create_key()
    for _ in range(3):  # replica a spends target one's whole RPM
        assert ask(a, key_a, "direct").model == "one-model"
    started = time.monotonic()
    served = [ask(gw, key).model for gw, key in [(b, key_b), (a, key_a)] * 4]
    assert time.monotonic() - started < 3  # nobody waited a minute for one's window
    assert served == ["two-model"] * 8
    assert ups["one"].calls == 3
    routed = [x["decisions"] for x in request_lines(captured) if x["alias"] == "chat"]
    assert len(routed) == 8
    for d in routed:  # ranked first because of what Redis says, not spilled there
        assert d["routing"]["first"] == "two/two-model"
        assert d["routing"]["why"].startswith("most capacity left")
        assert "spilled" not in d
    metrics = httpx.get(b.base_url + "/metrics").text
    assert ('bastion_routed_total{alias="chat",strategy="headroom",target="two/two-model"} 4.0'
            in metrics)
    # the same spent counter, in config order: the request waits for one, then is refused
    with pytest.raises(openai.RateLimitError) as e:
        ask(b, key_b, "chat_ordered")
    assert e.value.code == "rate_limit_exceeded"


def test_a_request_spills_to_the_next_target_instead_of_queueing(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"one": upstream_factory(), "two": upstream_factory()}
    cfg = routing_settings(ups, {"routing": "headroom", "traffic": {"queue_timeout_ms": 5000}})
    cfg["providers"]["one"]["limits"] = {"tpm": 1000}
    cfg["providers"]["two"]["limits"] = {"rpm": 10}
    cfg["models"]["warm"] = {"targets": ["two/two-model"]}
    gw = gateway_factory(cfg)
    key = gw.create_key()
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0, timeout=10)
    for _ in range(7):  # two: 30 % of its requests left
        c.chat.completions.create(model="warm", messages=SAY)  # type: ignore[arg-type]

    def big() -> str:
        return c.chat.completions.create(model="chat", messages=SAY,  # type: ignore[arg-type]
                                         max_tokens=600).model

    ups["one"].push(Behavior("ok", delay_s=1.0))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(big)  # one: all left; it holds 600+ of its 1000 tokens a second
        time.sleep(0.4)
        started = time.monotonic()
        # one still has more left (~39 % > 30 %), but not 600 tokens: no wait in its queue
        assert big() == "two-model"
        assert time.monotonic() - started < 0.5
        assert first.result() == "one-model"
    [spilled] = [x["decisions"] for x in request_lines(captured)
                 if x["alias"] == "chat" and x["target"] == "two/two-model"]
    assert spilled["routing"]["first"] == "one/one-model"
    assert spilled["spilled"] == ["one/one-model"]


@pytest.mark.parametrize("traffic_on", [True, False])
def test_without_limits_headroom_keeps_config_order_and_says_so(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any, traffic_on: bool,
) -> None:
    ups = {"one": upstream_factory(), "two": upstream_factory()}
    cfg = routing_settings(ups, {"routing": "headroom"}, traffic={"enabled": traffic_on})
    gw = gateway_factory(cfg)
    assert ask(gw, gw.create_key()).model == "one-model"
    lines = [json.loads(x) for x in captured.getvalue().splitlines() if x.startswith("{")]
    [warning] = [x for x in lines if x.get("event") == "headroom_without_limits"]
    assert warning["alias"] == "chat"
    assert request_lines(captured)[-1]["decisions"]["routing"]["why"] == (
        "no limits" if traffic_on else "no capacity limits known (config order)")
