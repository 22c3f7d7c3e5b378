"""Per-key and per-user concurrency limits: one key cannot take every connection to a
provider while other keys wait (issue 9, finding 5). Streams hold their place until
they end; with Redis the count is shared by replicas."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer
from bastion.testing.burst import burst

from .conftest import traffic_config

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
LIMITS = {"defaults": {"key": {"concurrency": 2}}, "users": {"alice": {"concurrency": 3}}}


def _gateway(up: FakeUpstream, redis_url: str | None, prefix: str | None) -> GatewayServer:
    traffic: dict[str, Any] = dict(LIMITS)
    if prefix:
        traffic["redis_prefix"] = prefix
    return GatewayServer(traffic_config({"up": up.base_url}, traffic=traffic,
                                        redis_url=redis_url))


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    if request.param == "memory":
        return None, None
    url = request.getfixturevalue("redis_url")
    return url, request.getfixturevalue("redis_prefix")


def test_one_key_cannot_hold_more_than_its_share(
        upstream_factory: Callable[[], FakeUpstream],
        backend: tuple[str | None, str | None]) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="ok", delay_s=1.0)
    with _gateway(up, *backend) as gw:
        greedy, other = gw.create_key(), gw.create_key()
        url = gw.openai_base_url + "/chat/completions"
        statuses = burst(url, [greedy] * 5 + [other], CHAT)
        assert sorted(statuses[:5]) == [200, 200, 429, 429, 429]
        assert statuses[5] == 200  # another key is not kept waiting
        refused = httpx.post(url, json=CHAT, headers={"Authorization": f"Bearer {greedy}"})
        assert refused.status_code == 200  # the places were given back
    assert up.calls == 4


def test_a_user_limit_spans_the_users_keys(
        upstream_factory: Callable[[], FakeUpstream]) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="ok", delay_s=1.0)
    with _gateway(up, None, None) as gw:
        k1, k2 = gw.create_key(user="alice"), gw.create_key(user="alice")
        statuses = burst(gw.openai_base_url + "/chat/completions", [k1, k1, k2, k2], CHAT)
        assert sorted(statuses) == [200, 200, 200, 429]


def test_a_stream_holds_its_place_until_it_ends(
        upstream_factory: Callable[[], FakeUpstream]) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="stall_stream", delay_s=1.5)
    with _gateway(up, None, None) as gw:
        key = gw.create_key()
        url = gw.openai_base_url + "/chat/completions"
        headers = {"Authorization": f"Bearer {key}"}
        first_bytes = threading.Barrier(3)

        def hold() -> None:
            with httpx.stream("POST", url, json={**CHAT, "stream": True},
                              headers=headers, timeout=30) as r:
                it = r.iter_bytes()
                next(it)
                first_bytes.wait()
                for _ in it:
                    pass

        threads = [threading.Thread(target=hold) for _ in range(2)]
        for t in threads:
            t.start()
        first_bytes.wait()
        r = httpx.post(url, json=CHAT, headers=headers)
        assert r.status_code == 429
        assert "in progress" in r.json()["error"]["message"]
        for t in threads:
            t.join()
        up.default = Behavior()
        assert httpx.post(url, json=CHAT, headers=headers).status_code == 200


@pytest.mark.parametrize(("traffic", "who"), [
    ({"defaults": {"user": {"concurrency": 1}}}, {"user": "bob"}),
    ({"defaults": {"team": {"concurrency": 1}}}, {"team": "red"}),
    ({"teams": {"red": {"concurrency": 1}}}, {"team": "red"}),
])
def test_user_and_team_limits_from_defaults_and_entries(
        upstream_factory: Callable[[], FakeUpstream], traffic: dict[str, Any],
        who: dict[str, str]) -> None:
    up = upstream_factory()
    up.default = Behavior(kind="ok", delay_s=1.0)
    with GatewayServer(traffic_config({"up": up.base_url}, traffic=traffic)) as gw:
        keys = [gw.create_key(**who), gw.create_key(**who), gw.create_key()]
        statuses = burst(gw.openai_base_url + "/chat/completions", keys, CHAT)
    assert sorted(statuses[:2]) == [200, 429]
    assert statuses[2] == 200  # a key outside that user or team
