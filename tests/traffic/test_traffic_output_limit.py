"""Budgets cannot be overrun by leaving out ``max_tokens`` (issue 9, finding 4): the
reserved output allowance is sent upstream as the request's output limit, so a provider
that writes as much as it is allowed never bills more than was reserved."""

from __future__ import annotations

from typing import Any

import httpx
from aiohttp import web

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.burst import burst

from .conftest import traffic_config
from .test_traffic_budget import create_key, usage

UNLIMITED_OUTPUT = 100_000  # what the provider writes when nothing limits it
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 10.0}  # 512 tokens: about $0.005
CHAT = {"model": "chat", "messages": [{"role": "user", "content": "write a long story"}]}
SEEN: list[dict[str, Any]] = []


async def verbose(up: FakeUpstream, request: web.Request, body: Any,
                  b: Behavior) -> web.StreamResponse:
    """A provider that always writes as many tokens as the request allows."""
    SEEN.append(body)
    out = body.get("max_completion_tokens") or body.get("max_tokens") or UNLIMITED_OUTPUT
    return web.json_response({
        "id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "length",
                     "message": {"role": "assistant", "content": "once upon a time"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": out, "total_tokens": out + 12}})


def test_twenty_requests_without_max_tokens_stay_within_the_budget() -> None:
    SEEN.clear()
    budget = 0.05
    with FakeUpstream(routes={"/chat/completions": verbose}) as up:
        cfg = traffic_config({"up": up.base_url}, traffic={"default_output_tokens": 512},
                             targets=[{"target": "up/gpt-4o-mini", "price": PRICE}])
        with GatewayServer(cfg) as gw:
            key_id, key = create_key(gw, budget_usd=budget)
            statuses = burst(gw.openai_base_url + "/chat/completions", [key] * 20, CHAT)
            spent = usage(gw, key_id)["spend_usd"]
            _, free = create_key(gw)  # no budget: the request is sent as written
            assert httpx.post(gw.openai_base_url + "/chat/completions", json=CHAT,
                              headers={"Authorization": f"Bearer {free}"}).status_code == 200
    one_request = (12 * PRICE["input_per_mtok"] + 512 * PRICE["output_per_mtok"]) / 1e6
    assert statuses.count(200) >= 1
    assert set(statuses) <= {200, 429}
    assert spent <= budget + one_request, f"spent ${spent:.2f} of a ${budget} budget"
    capped = SEEN[:-1]
    assert capped
    assert all(b.get("max_tokens") == 512 for b in capped), capped[:1]
    assert "max_tokens" not in SEEN[-1]
    assert "max_completion_tokens" not in SEEN[-1]
