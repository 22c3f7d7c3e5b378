"""The strategies over real HTTP (weighted, least_busy, latency), and the latency
strategy's exploration on its own."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from bastion.config.settings import Price
from bastion.core.context import Context
from bastion.core.types import ChatRequest, Message
from bastion.providers.base import CallTimeouts
from bastion.providers.fake import FakeProvider
from bastion.routing.stats import TargetStats
from bastion.routing.strategies import EXPLORE, Latency
from bastion.steps.route import Target
from bastion.testing import Behavior, FakeUpstream, GatewayServer

from .conftest import burst, request_lines, routing_settings, served_by


def test_weighted_three_to_one_over_400_requests(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
) -> None:
    ups = {"east": upstream_factory(), "west": upstream_factory()}
    gw = gateway_factory(routing_settings(ups, {
        "routing": "weighted",
        "targets": [{"target": "east/east-model", "weight": 3},
                    {"target": "west/west-model", "weight": 1}]}))
    models = asyncio.run(burst(gw, gw.create_key(), 400, 16))
    share = Counter(models)["east-model"] / 400
    assert abs(share - 0.75) <= 0.07  # the acceptance bound
    assert served_by(ups) == {"east": 300, "west": 100}  # smooth round robin: exact
    metrics = httpx.get(gw.base_url + "/metrics").text
    for target, n in (("east/east-model", 300), ("west/west-model", 100)):
        assert (f'bastion_requests_total{{alias="chat",code="",status="200",'
                f'target="{target}"}} {n}.0') in metrics
        assert (f'bastion_routed_total{{alias="chat",strategy="weighted",'
                f'target="{target}"}} {n}.0') in metrics


def test_least_busy_sends_most_traffic_away_from_a_slow_target(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"slow": upstream_factory(), "fast": upstream_factory()}
    ups["slow"].default = Behavior("ok", delay_s=0.4)
    gw = gateway_factory(routing_settings(ups, {"routing": "least_busy"}))
    models = asyncio.run(burst(gw, gw.create_key(), 60, 6))
    assert len(models) == 60
    slow = served_by(ups)["slow"]
    assert slow <= 12, served_by(ups)  # round robin would send it 30
    lines = request_lines(captured)
    whys = Counter(x["decisions"]["routing"]["why"] for x in lines)
    assert all(x["decisions"]["routing"]["strategy"] == "least_busy" for x in lines)
    assert sum(n for w, n in whys.items() if w.startswith("fewest in flight")) == 60


def test_ordered_is_the_default_and_says_so(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"a": upstream_factory(), "b": upstream_factory()}
    gw = gateway_factory(routing_settings(ups))
    asyncio.run(burst(gw, gw.create_key(), 10, 4))
    assert served_by(ups) == {"a": 10, "b": 0}
    [line, *_] = request_lines(captured)
    assert line["decisions"]["routing"] == {"strategy": "ordered", "why": "first in order",
                                            "first": "a/a-model"}


def test_latency_prefers_the_fastest_target_over_http(
    upstream_factory: Callable[[], FakeUpstream], gateway_factory: Callable[..., GatewayServer],
    captured: Any,
) -> None:
    ups = {"slow": upstream_factory(), "fast": upstream_factory()}
    ups["slow"].default = Behavior("ok", delay_s=0.15)
    gw = gateway_factory(routing_settings(ups, {"routing": "latency"}))
    asyncio.run(burst(gw, gw.create_key(), 40, 1))
    assert served_by(ups)["fast"] >= 32, served_by(ups)
    whys = [x["decisions"]["routing"]["why"] for x in request_lines(captured)]
    assert whys[:2] == ["not measured yet", "not measured yet"]  # each gets measured once
    assert all(w.startswith(("fastest first byte", "exploring")) for w in whys[2:])


def _target(name: str) -> Target:
    provider = FakeProvider(name)
    return Target(name=name, provider=provider, model=name, price=Price(),
                  timeouts=CallTimeouts(1, 1, 1))


def test_latency_explores_so_a_recovered_target_wins_its_traffic_back() -> None:
    a, b = _target("p/a"), _target("p/b")
    stats = TargetStats()
    strategy = Latency(stats, random.Random(7))
    ctx = Context(request=ChatRequest(model="chat", messages=[Message(role="user")]),
                  request_id="r")
    latency = {"p/a": 0.200, "p/b": 0.050}
    first: list[str] = []
    explored = 0
    for i in range(1500):
        if i == 300:
            latency["p/a"] = 0.010  # a recovers, and is now the faster one
        ranked = asyncio.run(strategy.rank(ctx, [a, b]))
        name = ranked.targets[0].name
        explored += ranked.why == "exploring"
        first.append(name)
        stats.observe(name, latency[name])
    assert first[2:300].count("p/b") >= 0.9 * 298  # b is faster: it takes the traffic
    assert abs(explored / 1500 - EXPLORE) < 0.02
    assert first[-500:].count("p/a") >= 0.9 * 500  # a was noticed, and has it back
