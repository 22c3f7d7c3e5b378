"""Client parameters that raise a call's price or retention reach the provider only where
the alias allows them (issue 9, finding 10), over real HTTP, both dialects."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream import OPENAI_ROUTES
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

PRICED = {"store": True, "service_tier": "priority"}


@pytest.fixture
def setup() -> Iterator[tuple[FakeUpstream, GatewayServer, str]]:
    with FakeUpstream(routes={**OPENAI_ROUTES, **ANTHROPIC_ROUTES}) as up:
        settings = {
            "providers": {"oa": {"type": "openai_compatible", "base_url": up.base_url},
                          "an": {"type": "anthropic", "base_url": up.base_url,
                                 "api_key": "env:AN"}},
            "models": {
                "chat": {"targets": ["oa/gpt-4o"]},
                "premium": {"targets": ["oa/gpt-4o"],
                            "client_params": {"allow": ["store", "service_tier"]}},
                "claude": {"targets": ["an/claude-sonnet-4-5"]},
                "claude-1m": {"targets": ["an/claude-sonnet-4-5"],
                              "client_params": {"allow": ["anthropic_beta", "speed"]}},
            },
        }
        with GatewayServer(settings, env={"AN": "sk-ant-test-0123456789"}) as gw:
            yield up, gw, gw.create_key()


def openai_chat(gw: GatewayServer, key: str, model: str, **extra: Any) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions",
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}],
                            **extra}, headers={"Authorization": f"Bearer {key}"})


def messages(gw: GatewayServer, key: str, model: str, beta: str | None = None,
             **extra: Any) -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if beta:
        headers["anthropic-beta"] = beta
    return httpx.post(gw.base_url + "/v1/messages", headers=headers,
                      json={"model": model, "max_tokens": 32,
                            "messages": [{"role": "user", "content": "hi"}], **extra})


def test_store_and_tier_upgrades_are_dropped_by_default(
        setup: tuple[FakeUpstream, GatewayServer, str], captured: io.StringIO) -> None:
    up, gw, key = setup
    assert openai_chat(gw, key, "chat", **PRICED).status_code == 200
    sent = up.received[-1].body
    assert "store" not in sent
    assert "service_tier" not in sent
    out = captured.getvalue()
    assert "client_params_dropped" in out
    assert "service_tier=priority" in out
    # what costs no more passes
    assert openai_chat(gw, key, "chat", store=False, service_tier="flex").status_code == 200
    assert up.received[-1].body["store"] is False
    assert up.received[-1].body["service_tier"] == "flex"


def test_an_alias_may_allow_them(setup: tuple[FakeUpstream, GatewayServer, str]) -> None:
    up, gw, key = setup
    assert openai_chat(gw, key, "premium", **PRICED).status_code == 200
    assert up.received[-1].body["store"] is True
    assert up.received[-1].body["service_tier"] == "priority"


def test_anthropic_speed_tier_and_priced_betas(
        setup: tuple[FakeUpstream, GatewayServer, str]) -> None:
    up, gw, key = setup
    betas = "context-1m-2025-08-07,interleaved-thinking-2025-05-14"
    r = messages(gw, key, "claude", beta=betas, speed="fast", service_tier="auto")
    assert r.status_code == 200, r.text
    got = up.received[-1]
    assert "speed" not in got.body
    assert got.body["service_tier"] == "auto"
    assert got.headers.get("anthropic-beta") == "interleaved-thinking-2025-05-14"
    r = messages(gw, key, "claude-1m", beta=betas, speed="fast")
    assert r.status_code == 200, r.text
    assert up.received[-1].body["speed"] == "fast"
    assert up.received[-1].headers.get("anthropic-beta") == betas
