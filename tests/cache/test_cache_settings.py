"""Each cache setting without a test of its own elsewhere changes what the cache does,
over real HTTP (the official openai SDK, a real gateway, FakeUpstream providers)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bastion.testing import FakeUpstream

from .conftest import CacheKit, chat_calls, semantic_settings

QUESTION = "What is the capital city of France?"
PARAPHRASE = "Hi! What's the capital city of France?"


def embedded(up: FakeUpstream) -> list[str]:
    """The model of each embeddings call the upstream received."""
    return [r.body["model"] for r in up.received if r.path.endswith("/embeddings")]


@pytest.mark.parametrize(("max_entry_bytes", "second"), [(None, "hit"), (1024, "miss")])
def test_max_entry_bytes(kit: CacheKit, max_entry_bytes: int | None, second: str) -> None:
    """A 4 KB answer is stored under the default 1 MiB bound, not under 1 KB."""
    up = kit.upstream(reply="x" * 4096)
    top = {} if max_entry_bytes is None else {"cache": {"max_entry_bytes": max_entry_bytes}}
    gw = kit.gateway(kit.settings(up, {"enabled": "on"}, top=top))
    c = kit.client(gw)
    assert kit.ask(c, "a long answer, please")[1] == "miss"
    assert kit.ask(c, "a long answer, please")[1] == second


@pytest.mark.parametrize("timeout_ms", [50, 900])
def test_redis_timeout_ms(kit: CacheKit, silent_redis: str, timeout_ms: int) -> None:
    """A Redis cache that never answers costs a lookup ``redis_timeout_ms``, then a miss."""
    up = kit.upstream()
    gw = kit.gateway(kit.settings(up, {"enabled": "on"}, top={
        "state": {"database": "memory://", "redis": silent_redis},
        "cache": {"backend": "redis", "redis_timeout_ms": timeout_ms},
        "resilience": {"redis_timeout_ms": 50}}))  # the shared breakers give up at once
    c = kit.client(gw)
    started = time.monotonic()
    assert kit.ask(c, "hello") == ("You said: hello", "miss")
    took = time.monotonic() - started
    if timeout_ms > 500:
        assert took >= 0.85, took
    else:
        assert took < 0.6, took


@pytest.mark.parametrize(("max_entries", "later"), [(None, "hit"), (1, "miss")])
def test_semantic_max_entries(kit: CacheKit, bag_upstream: FakeUpstream,
                              max_entries: int | None, later: str) -> None:
    """With room for one question, a second one pushes the first out of the index."""
    top = {} if max_entries is None else {"cache": {"semantic_max_entries": max_entries}}
    gw = kit.gateway(semantic_settings(kit, bag_upstream, top=top))
    c = kit.client(gw)
    kit.ask(c, QUESTION)
    kit.ask(c, "How do I reset my router?")
    assert kit.ask(c, PARAPHRASE)[1] == later


@pytest.mark.parametrize("embedder", ["embed", "embed-b"])
def test_semantic_embedder(kit: CacheKit, bag_upstream: FakeUpstream, embedder: str) -> None:
    """Questions are embedded by the alias ``embedder`` names (the default, ``local``,
    calls no provider)."""
    s = semantic_settings(kit, bag_upstream, embedder=f"alias:{embedder}")
    s["models"]["embed-b"] = {"targets": ["up/other-embed"], "kind": "embeddings"}
    gw = kit.gateway(s)
    c = kit.client(gw)
    kit.ask(c, QUESTION)
    assert kit.ask(c, PARAPHRASE)[1] == "hit"
    model = {"embed": "bag-embed", "embed-b": "other-embed"}[embedder]
    assert embedded(bag_upstream) == [model, model]


@pytest.mark.parametrize(("max_chars", "semantic"), [(None, True), (20, False)])
def test_semantic_max_chars(kit: CacheKit, bag_upstream: FakeUpstream, max_chars: int | None,
                            semantic: bool) -> None:
    """Questions longer than ``max_chars`` skip the semantic lookup: no embedding, no hit."""
    extra: dict[str, Any] = {} if max_chars is None else {"max_chars": max_chars}
    gw = kit.gateway(semantic_settings(kit, bag_upstream, **extra))
    c = kit.client(gw)
    kit.ask(c, QUESTION)
    assert kit.ask(c, PARAPHRASE)[1] == ("hit" if semantic else "miss")
    assert chat_calls(bag_upstream) == (1 if semantic else 2)
    assert len(embedded(bag_upstream)) == (2 if semantic else 0)
