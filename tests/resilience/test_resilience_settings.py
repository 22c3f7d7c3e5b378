"""Each retry, budget and breaker setting (global ``resilience.…`` and the per-alias
``models.X.resilience.retry`` overrides) changes what the route does, over real HTTP:
the official openai SDK, a real gateway, FakeUpstream providers that fail on cue."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from bastion.testing import Behavior, FakeUpstream, GatewayServer

SAY = [{"role": "user", "content": "hello"}]
NO_BREAKER = {"enabled": False}
Factory = Callable[..., GatewayServer]


def ask(gw: GatewayServer, key: str) -> int:
    """One request; its HTTP status."""
    c = openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0, timeout=20)
    try:
        c.chat.completions.create(model="chat", messages=SAY)  # type: ignore[arg-type]
    except openai.APIStatusError as e:
        return e.status_code
    return 200


def gaps(up: FakeUpstream) -> list[float]:
    """Seconds between the upstream's consecutive calls."""
    at = [r.at for r in up.received]
    return [b - a for a, b in itertools.pairwise(at)]


@pytest.mark.parametrize("enabled", [True, False])
def test_breaker_enabled(upstream_factory: Callable[[], FakeUpstream], gateway_factory: Factory,
                         settings_for: Callable[..., dict[str, Any]], enabled: bool) -> None:
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("status", status=500)
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        resilience={"breaker": {"enabled": enabled, "failure_threshold": 2}}))
    key = gw.create_key()
    assert [ask(gw, key) for _ in range(5)] == [200] * 5
    # on: two failures open the primary's breaker; off: every request tries it first
    assert primary.calls == (2 if enabled else 5)


@pytest.mark.parametrize(("retry", "alias_retry", "calls"), [
    ({"max_attempts": 1}, {}, 1),
    ({"max_attempts": 4}, {}, 4),
    ({"max_attempts": 4}, {"max_attempts": 2}, 2),
])
def test_max_attempts(upstream_factory: Callable[[], FakeUpstream], gateway_factory: Factory,
                      settings_for: Callable[..., dict[str, Any]], retry: dict[str, Any],
                      alias_retry: dict[str, Any], calls: int) -> None:
    up = upstream_factory()
    up.default = Behavior("status", status=500)
    gw = gateway_factory(settings_for(
        {"only": up.base_url}, alias={"resilience": {"retry": alias_retry}},
        resilience={"retry": {**retry, "base_delay_ms": 0}, "breaker": NO_BREAKER}))
    assert ask(gw, gw.create_key()) == 503
    assert up.calls == calls


# Five failures, then an answer: the five waits are full-jitter backoff, uniform between 0
# and min(max_delay_ms, base_delay_ms * 2^(n-1)). Bounds are chosen so that a setting
# that were ignored fails the test with near certainty (five waits of U(0, 0.3 s) sum to
# less than 0.08 s once in ~100,000 runs; of U(0, 5 s), to less than 0.4 s never).
@pytest.mark.parametrize(("retry", "alias_retry", "waits"), [
    ({"base_delay_ms": 0}, {}, "short"),
    ({"base_delay_ms": 300, "max_delay_ms": 300}, {}, "long"),
    ({"base_delay_ms": 60000, "max_delay_ms": 20}, {}, "short"),
    ({"base_delay_ms": 0}, {"base_delay_ms": 300, "max_delay_ms": 300}, "long"),
    ({"base_delay_ms": 60000}, {"max_delay_ms": 20}, "short"),
], ids=["no-backoff", "base", "max", "alias-base", "alias-max"])
def test_backoff_delays(upstream_factory: Callable[[], FakeUpstream], gateway_factory: Factory,
                        settings_for: Callable[..., dict[str, Any]], retry: dict[str, Any],
                        alias_retry: dict[str, Any], waits: str) -> None:
    up = upstream_factory()
    up.push(*[Behavior("status", status=500)] * 5)
    gw = gateway_factory(settings_for(
        {"only": up.base_url}, alias={"resilience": {"retry": alias_retry}},
        resilience={"retry": {**retry, "max_attempts": 6}, "breaker": NO_BREAKER}))
    assert ask(gw, gw.create_key()) == 200
    assert up.calls == 6
    total = sum(gaps(up))
    if waits == "short":
        assert total < 0.4, total
    else:
        assert 0.08 < total < 1.5 + 0.5, total


@pytest.mark.parametrize(("retry", "alias_retry", "retried"), [
    ({"max_retry_after_ms": 100}, {}, False),
    ({"max_retry_after_ms": 1000}, {}, True),
    ({"max_retry_after_ms": 1000}, {"max_retry_after_ms": 100}, False),
    ({"max_retry_after_ms": 100}, {"max_retry_after_ms": 1000}, True),
])
def test_max_retry_after_ms(upstream_factory: Callable[[], FakeUpstream],
                            gateway_factory: Factory, settings_for: Callable[..., dict[str, Any]],
                            retry: dict[str, Any], alias_retry: dict[str, Any],
                            retried: bool) -> None:
    """A provider asking for 300 ms: waited for when the cap allows it, else no retry."""
    up = upstream_factory()
    up.push(Behavior("status", status=429, headers={"retry-after-ms": "300"}))
    gw = gateway_factory(settings_for(
        {"only": up.base_url}, alias={"resilience": {"retry": alias_retry}},
        resilience={"retry": retry, "breaker": NO_BREAKER}))
    assert ask(gw, gw.create_key()) == (200 if retried else 503)
    assert up.calls == (2 if retried else 1)
    if retried:
        assert gaps(up)[0] >= 0.3


@pytest.mark.parametrize(("ratio", "min_per_s"), [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
def test_retry_budget(upstream_factory: Callable[[], FakeUpstream], gateway_factory: Factory,
                      settings_for: Callable[..., dict[str, Any]], ratio: float,
                      min_per_s: float) -> None:
    """The budget starts with 10 retries; each first attempt adds ``budget_ratio`` and each
    second ``budget_min_per_s``. A request is retried once while the budget allows."""
    up = upstream_factory()
    up.default = Behavior("status", status=500)
    gw = gateway_factory(settings_for({"only": up.base_url}, resilience={
        "retry": {"max_attempts": 2, "base_delay_ms": 0, "budget_ratio": ratio,
                  "budget_min_per_s": min_per_s}, "breaker": NO_BREAKER}))
    key = gw.create_key()

    def retried() -> bool:
        before = up.calls
        assert ask(gw, key) == 503
        return up.calls - before == 2

    burst = [retried() for _ in range(15)]
    if ratio:  # every request pays for its own retry
        assert burst == [True] * 15
        return
    # ten retries, then the budget is spent
    assert burst[:10] == [True] * 10
    assert not all(burst)
    if min_per_s:  # time refills it
        time.sleep(1.05)
        assert retried()


@pytest.mark.parametrize("max_open_ms", [None, 300])
def test_breaker_max_open_ms(upstream_factory: Callable[[], FakeUpstream],
                             gateway_factory: Factory, settings_for: Callable[..., dict[str, Any]],
                             max_open_ms: int | None) -> None:
    """A 429 asking for a minute opens the breaker for a minute, or ``max_open_ms``."""
    primary, secondary = upstream_factory(), upstream_factory()
    primary.default = Behavior("status", status=429, retry_after="60")
    breaker = {} if max_open_ms is None else {"max_open_ms": max_open_ms}
    gw = gateway_factory(settings_for(
        {"primary": primary.base_url, "secondary": secondary.base_url},
        resilience={"breaker": breaker}))
    key = gw.create_key()
    assert ask(gw, key) == 200  # from the secondary
    board = httpx.get(gw.base_url + "/admin/breakers",
                      headers={"Authorization": f"Bearer {gw.master_key}"}).json()["data"]
    open_for = next(b["open_for_s"] for b in board if b["target"].startswith("primary"))
    assert open_for > (50 if max_open_ms is None else 0)
    assert open_for <= (60 if max_open_ms is None else 0.3)
    time.sleep(0.4)
    assert ask(gw, key) == 200
    assert primary.calls == (1 if max_open_ms is None else 2)  # probed again once it closed


@pytest.mark.parametrize("timeout_ms", [50, 900])
def test_breaker_redis_timeout_ms(silent_redis: str, gateway_factory: Factory,
                                  timeout_ms: int) -> None:
    """Shared breaker state on a Redis that never answers: the first request waits
    ``resilience.redis_timeout_ms`` for it, then the local breakers take over."""
    gw = gateway_factory({
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/m"], "cache": {"enabled": "off"}}},
        "state": {"database": "memory://", "redis": silent_redis},
        "resilience": {"redis_timeout_ms": timeout_ms},
    })
    key = gw.create_key()
    started = time.monotonic()
    assert ask(gw, key) == 200
    took = time.monotonic() - started
    if timeout_ms > 500:
        assert took >= 0.85, took
    else:
        assert took < 0.6, took
