"""Retry strategies, the retry budget and the in-process circuit breaker."""

from __future__ import annotations

import random

import pytest

from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
)
from bastion.resilience.breaker import Breaker, BreakerConfig, State
from bastion.resilience.budget import RetryBudget
from bastion.resilience.retry import (
    Attempt,
    RetryPolicy,
    stop_after_attempt,
    stop_on_deadline,
    wait_full_jitter,
    wait_retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    w = wait_full_jitter(0.1, 1.0, random.Random(7))
    for n in range(1, 8):
        ceiling = min(1.0, 0.1 * 2 ** (n - 1))
        delays = [w(Attempt(n, ProviderServerError(), None)) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range


def test_retry_after_advice_wins_and_long_advice_means_move_on() -> None:
    wait = wait_retry_after(cap_s=5) | wait_full_jitter(0.1, 1.0)
    assert wait(Attempt(1, ProviderRateLimited(retry_after_s=2.0), None)) == pytest.approx(2.02)
    assert wait(Attempt(1, ProviderRateLimited(retry_after_s=60.0), None)) == float("inf")
    assert wait(Attempt(1, ProviderRateLimited(), None)) <= 0.1  # type: ignore[operator]


def test_stops_combine() -> None:
    stop = stop_after_attempt(3) | stop_on_deadline(0.1)
    err = ProviderServerError()
    assert not stop(Attempt(1, err, 10.0))
    assert stop(Attempt(3, err, 10.0))
    assert stop(Attempt(1, err, 0.05))


def test_policy_retries_only_what_is_worth_it() -> None:
    p = RetryPolicy.standard(max_attempts=3, base_s=0.01, cap_s=0.02, max_retry_after_s=5,
                             attempts_before_fallback=1)
    for err in (ProviderServerError(), ProviderTimeout(), ProviderRateLimited()):
        assert p.delay(Attempt(1, err, 10.0), last_target=True) is not None
    for err in (ProviderAuthError(), ProviderBadResponse()):
        assert p.delay(Attempt(1, err, 10.0), last_target=True) is None
    # a target with another behind it: move on after one attempt
    assert p.delay(Attempt(1, ProviderServerError(), 10.0), last_target=False) is None
    assert p.delay(Attempt(3, ProviderServerError(), 10.0), last_target=True) is None


def test_policy_never_sleeps_past_the_deadline() -> None:
    p = RetryPolicy.standard(max_retry_after_s=30)
    advised = ProviderRateLimited(retry_after_s=2.0)
    assert p.delay(Attempt(1, advised, 1.5), last_target=True) is None
    assert p.delay(Attempt(1, advised, 3.0), last_target=True) == pytest.approx(2.02)


def test_budget_allows_a_fraction_of_traffic() -> None:
    b = RetryBudget(ratio=0.2, min_per_s=0, cap=5)
    spent = sum(b.try_spend() for _ in range(100))
    assert spent == 5  # the initial reserve only
    for _ in range(100):
        b.deposit()
    assert sum(b.try_spend() for _ in range(100)) == 5  # capped: no saving up for a storm
    for _ in range(10):
        b.deposit()
    assert sum(b.try_spend() for _ in range(100)) == 2  # 20 % of 10 first attempts


def test_breaker_opens_on_consecutive_failures_and_recovers_through_a_probe() -> None:
    clock = Clock()
    changes: list[tuple[State, State, str]] = []
    b = Breaker("p/m", BreakerConfig(failure_threshold=3, cooldown_s=5, half_open_probes=1),
                lambda _n, old, new, why: changes.append((old, new, why)), clock)
    for _ in range(2):
        b.record_failure()
    b.record_success()  # resets the run
    for _ in range(3):
        assert b.allow()
        b.record_failure()
    assert b.state is State.OPEN
    assert not b.allow()
    clock.now += 5
    assert b.allow()  # the probe
    assert not b.allow()  # only one probe at a time
    b.record_failure()
    assert b.state is State.OPEN
    clock.now += 5
    assert b.allow()
    b.record_success()
    assert b.state is State.CLOSED
    assert [c[1] for c in changes] == [State.OPEN, State.HALF_OPEN, State.OPEN,
                                       State.HALF_OPEN, State.CLOSED]


def test_breaker_failure_rate_over_the_window() -> None:
    clock = Clock()
    b = Breaker("p/m", BreakerConfig(failure_threshold=100, failure_rate=0.5, min_requests=10,
                                     window_s=10), clock=clock)
    for i in range(9):
        (b.record_failure if i % 2 else b.record_success)()
    assert b.state is State.CLOSED  # below min_requests
    b.record_failure()
    assert b.state is State.OPEN  # 5 of 10 failed
    b2 = Breaker("p/m", BreakerConfig(failure_threshold=100, min_requests=10, window_s=10),
                 clock=clock)
    for _ in range(6):
        b2.record_failure()
        b2.record_success()
    clock.now += 11  # old calls leave the window
    for _ in range(9):
        b2.record_success()
    b2.record_failure()
    assert b2.state is State.CLOSED


def test_breaker_retry_after_opens_for_that_long_and_lost_probes_free_their_slot() -> None:
    clock = Clock()
    b = Breaker("p/m", BreakerConfig(cooldown_s=1, max_open_s=30), clock=clock)
    b.record_failure(open_for_s=7.0)
    assert b.state is State.OPEN
    clock.now += 6.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()  # a probe that never reports back...
    assert not b.allow()
    clock.now += 1.0  # ...frees its slot after one cool-down
    assert b.allow()
    b.record_failure(open_for_s=3600)
    assert b.snapshot()["open_for_s"] == pytest.approx(30)  # capped at max_open_s
