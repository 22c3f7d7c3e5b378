"""The cache key covers every parameter that can change the answer, Anthropic-only ones
included: two requests that differ only in ``top_k``, ``thinking`` or an
``anthropic-beta`` header must never share an entry (issue 9, finding 11)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bastion.testing import FakeUpstream, GatewayServer
from bastion.testing.upstream_anthropic import ANTHROPIC_ROUTES

BASE: dict[str, Any] = {"model": "chat", "max_tokens": 64, "temperature": 0,
                        "messages": [{"role": "user", "content": "name a colour"}]}


@pytest.fixture
def setup() -> Iterator[tuple[FakeUpstream, GatewayServer, str]]:
    with FakeUpstream(routes=ANTHROPIC_ROUTES) as up:
        settings = {"providers": {"an": {"type": "anthropic", "base_url": up.base_url,
                                         "api_key": "env:AN"}},
                    "models": {"chat": {"targets": ["an/claude-haiku-4-5"],
                                        "cache": {"enabled": "on"}}}}
        with GatewayServer(settings, env={"AN": "sk-ant-test-0123456789"}) as gw:
            yield up, gw, gw.create_key()


def ask(gw: GatewayServer, key: str, extra: dict[str, Any] | None = None,
        beta: str | None = None) -> str:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if beta:
        headers["anthropic-beta"] = beta
    r = httpx.post(gw.base_url + "/v1/messages", json={**BASE, **(extra or {})},
                   headers=headers)
    assert r.status_code == 200, r.text
    return r.headers["x-bastion-cache"]


@pytest.mark.parametrize(("extra", "beta"), [
    ({"top_k": 5}, None),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, None),
    ({}, "interleaved-thinking-2025-05-14"),
])
def test_anthropic_only_parameters_are_part_of_the_key(
        setup: tuple[FakeUpstream, GatewayServer, str], extra: dict[str, Any],
        beta: str | None) -> None:
    up, gw, key = setup
    assert ask(gw, key) == "miss"
    assert ask(gw, key) == "hit"
    assert ask(gw, key, extra, beta) == "miss", "a different answer was served from cache"
    assert ask(gw, key, extra, beta) == "hit"
    assert up.calls == 2
