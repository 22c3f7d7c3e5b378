"""Config generations: what a reload keeps (unchanged providers, breakers, in-memory
counters and cache) and what it lets go of once the old generation is closed."""

from __future__ import annotations

from typing import Any

import openai

from bastion.config.settings import Settings
from bastion.generation import grace_s
from bastion.reload import apply
from bastion.testing import Behavior, FakeUpstream, GatewayServer


def _settings(a: FakeUpstream, b: FakeUpstream, b_headers: dict[str, str] | None = None,
              cache: str = "on") -> dict[str, Any]:
    return {
        "state": {"database": "memory://"},
        "providers": {"a": {"type": "openai_compatible", "base_url": a.base_url},
                      "b": {"type": "openai_compatible", "base_url": b.base_url,
                            "headers": b_headers or {}}},
        "models": {"chat": {"targets": ["a/m", "b/m"], "cache": {"enabled": cache},
                            "timeout_ms": {"total": 4000}},
                   "other": {"targets": ["b/m"], "traffic": {"queue_timeout_ms": 1000}}},
        "resilience": {"retry": {"max_attempts": 1},
                       "breaker": {"failure_threshold": 1, "min_requests": 1}},
    }


def test_a_reload_keeps_what_did_not_change(upstream_factory: Any) -> None:
    a, b = upstream_factory(), upstream_factory()
    with GatewayServer(_settings(a, b)) as gw:
        g = gw.gateway
        first = g.generation
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0)
        msgs: Any = [{"role": "user", "content": "cache me"}]
        client.chat.completions.create(model="chat", messages=msgs)
        a.push(Behavior("status", status=500))
        client.chat.completions.create(model="chat", messages=[{"role": "user",
                                                                "content": "open a"}])
        assert g.route.breakers.get("a/m").snapshot()["state"] == "open"
        new = Settings.model_validate(_settings(a, b, b_headers={"x-team": "blue"}))
        result = gw.run(apply(g, new))
        assert result.status == "reloaded"
        assert g.generation is not first
        assert g.providers["a"] is first.providers["a"]  # same settings: same adapter
        assert g.providers["b"] is not first.providers["b"]  # changed: a new one
        assert g.route.breakers is first.route.breakers
        assert g.route.router.stats is first.route.router.stats  # in flight, latencies
        assert g.route.breakers.get("a/m").snapshot()["state"] == "open"  # still open
        calls = a.calls + b.calls
        hit = client.chat.completions.with_raw_response.create(model="chat", messages=msgs)
        assert hit.headers.get("x-bastion-cache") == "hit"  # the cache survived the reload
        assert a.calls + b.calls == calls
        old_b = first.providers["b"]
        assert first in g.retired
        gw.run(g.close_generation(first))
        assert old_b._http.session.closed  # type: ignore[attr-defined]
        assert not g.providers["a"]._http.session.closed  # type: ignore[attr-defined]
        assert first not in g.retired
        client.chat.completions.create(model="other", messages=[{"role": "user",
                                                                 "content": "still"}])
        assert b.received[-1].headers.get("x-team") == "blue"


def test_grace_is_the_longest_time_a_request_can_take(upstream_factory: Any) -> None:
    a, b = upstream_factory(), upstream_factory()
    s = Settings.model_validate(_settings(a, b))
    # chat: 4 s total + 30 s default capacity wait; other: 120 s + 1 s; plus a margin
    assert grace_s(s) == 121 + 5


def test_parts_that_register_metrics_reload_without_a_clash(upstream_factory: Any) -> None:
    """Steps whose metrics live in the process's registry (cost routing, context budgets)
    are built again on a reload without registering their series twice."""
    up = upstream_factory()

    def settings(cheap_tokens: int) -> dict[str, Any]:
        return {
            "state": {"database": "memory://"},
            "providers": {"oa": {"type": "openai_compatible", "base_url": up.base_url}},
            "models": {
                "assistant": {"kind": "auto", "auto": {
                    "cheap": "small", "strong": "big", "classifier": False,
                    "max_cheap_prompt_tokens": cheap_tokens}},
                "small": {"targets": ["oa/gpt-4o-mini"],
                          "context": {"max_prompt_tokens": 4000}},
                "big": {"targets": ["oa/gpt-4o"]}}}

    with GatewayServer(settings(2000)) as gw:
        first = gw.gateway.generation
        result = gw.run(apply(gw.gateway, Settings.model_validate(settings(50))))
        assert result.status == "reloaded"
        assert gw.gateway.generation is not first
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.create_key(),
                               max_retries=0)
        answer = client.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": "word " * 100}])
        assert answer.model == "gpt-4o"  # over the new cheap limit: the strong alias
