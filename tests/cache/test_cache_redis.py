"""The exact cache on a real Redis, shared by two gateways; and Redis down is only a miss."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from bastion.testing import FakeUpstream

if TYPE_CHECKING:
    from conftest import CacheKit


@pytest.fixture
def redis_ns(redis_url: str, namespace: str) -> Iterator[tuple[str, str]]:
    yield redis_url, namespace
    r = redis.Redis.from_url(redis_url)
    for k in r.scan_iter(match=namespace + ":*"):
        r.delete(k)
    r.close()


def test_two_gateways_share_one_redis_cache(
        upstream: FakeUpstream, kit: CacheKit, redis_ns: tuple[str, str]) -> None:
    url, ns = redis_ns
    settings = kit.settings(upstream, {"ttl_s": 0.5, "stale_ttl_s": 0}, top={
        "state": {"database": "memory://", "redis": url},
        "cache": {"backend": "redis", "namespace": ns}})
    a, b = kit.gateway(settings), kit.gateway(settings)
    assert kit.ask(kit.client(a, team="red"), "shared") == ("You said: shared", "miss")
    # Another replica, same team: served from Redis. Another team: not.
    assert kit.ask(kit.client(b, team="red"), "shared")[1] == "hit"
    assert kit.ask(kit.client(b, team="blue"), "shared")[1] == "miss"
    assert upstream.calls == 2
    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=ns + ":*"))
    assert len(keys) == 2
    assert 0 < r.pttl(keys[0]) <= 500
    r.close()
    time.sleep(0.7)
    assert kit.ask(kit.client(a, team="red"), "shared")[1] == "miss"  # TTL passed
    assert upstream.calls == 3


def test_streams_and_errors_with_redis(
        upstream: FakeUpstream, kit: CacheKit, redis_ns: tuple[str, str]) -> None:
    url, ns = redis_ns
    gw = kit.gateway(kit.settings(upstream, top={
        "state": {"database": "memory://", "redis": url},
        "cache": {"backend": "redis", "namespace": ns}}))
    c = kit.client(gw)
    chunks = list(c.chat.completions.create(
        model="chat", temperature=0, stream=True,
        messages=[{"role": "user", "content": "via redis"}]))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert kit.ask(c, "via redis") == (text, "hit")
    assert upstream.calls == 1


def test_unreachable_redis_is_a_miss_never_a_failure(
        upstream: FakeUpstream, kit: CacheKit) -> None:
    gw = kit.gateway(kit.settings(upstream, top={
        "state": {"database": "memory://", "redis": "redis://127.0.0.1:1/0"},
        "cache": {"backend": "redis"}}))
    c = kit.client(gw)
    for _ in range(3):
        assert kit.ask(c, "no redis") == ("You said: no redis", "miss")
    assert upstream.calls == 3
