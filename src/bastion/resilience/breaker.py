"""A circuit breaker per target (provider + model), in process.

::

    closed ──(N consecutive failures, or failure rate ≥ r over ≥ m calls in the window,
    │         or a 429 with Retry-After)──▶ open ──(cool-down / Retry-After passed)──▶ half-open
    ▲                                                                                   │
    └───────────────────────(a probe succeeds)─────────────────────────────┘
                               (a probe fails: open again)

While open, :meth:`Breaker.allow` says no at once. Half-open lets
``half_open_probes`` calls through; a probe whose outcome never comes back (the
client left) frees its slot after one cool-down, so the breaker cannot stick.

:class:`BreakerBoard` holds one breaker per target, reports every state change
(a ``breaker_state`` log line and the ``bastion_breaker_state`` gauge), and is
what the route talks to. :mod:`bastion.resilience.breaker_redis` shares the state
between replicas through Redis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from bastion.config.resilience_settings import BreakerSettings
from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics


def _log() -> Any:
    """A logger per event (events here are rare: failures, retries, state changes), so
    a reconfigured structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.breaker")
_BUCKETS = 10


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 5
    failure_rate: float = 0.5
    min_requests: int = 20
    window_s: float = 30.0
    cooldown_s: float = 10.0
    half_open_probes: int = 1
    max_open_s: float = 300.0

    @classmethod
    def from_settings(cls, s: BreakerSettings) -> BreakerConfig:
        return cls(s.failure_threshold, s.failure_rate, s.min_requests, s.window_s,
                   s.cooldown_ms / 1000, s.half_open_probes, s.max_open_ms / 1000)


Listener = Callable[[str, State, State, str], None]


class _Window:
    """Calls and failures over the last ``window_s``, in ten fixed buckets (O(1) memory)."""

    __slots__ = ("_calls", "_epochs", "_fails", "_width")

    def __init__(self, window_s: float) -> None:
        self._width = window_s / _BUCKETS
        self._epochs = [-1] * _BUCKETS
        self._calls = [0] * _BUCKETS
        self._fails = [0] * _BUCKETS

    def add(self, now: float, failed: bool) -> None:
        epoch = int(now / self._width)
        i = epoch % _BUCKETS
        if self._epochs[i] != epoch:
            self._epochs[i], self._calls[i], self._fails[i] = epoch, 0, 0
        self._calls[i] += 1
        self._fails[i] += failed

    def totals(self, now: float) -> tuple[int, int]:
        oldest = int(now / self._width) - _BUCKETS + 1
        calls = fails = 0
        for i in range(_BUCKETS):
            if self._epochs[i] >= oldest:
                calls += self._calls[i]
                fails += self._fails[i]
        return calls, fails

    def clear(self) -> None:
        self._epochs = [-1] * _BUCKETS


class Breaker:
    """One target's breaker (see the module docstring). Not thread-safe; one event loop."""

    def __init__(self, name: str, cfg: BreakerConfig, listener: Listener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.cfg = cfg
        self._listener = listener
        self._clock = clock
        self._state = State.CLOSED
        self.open_until = 0.0
        self.consecutive = 0
        self._probes = 0
        self._probe_reset = 0.0
        self._window = _Window(cfg.window_s)

    @property
    def state(self) -> State:
        """The current state; an open breaker whose cool-down passed reads half-open."""
        if self._state is State.OPEN and self._clock() >= self.open_until:
            self._set(State.HALF_OPEN, "cooldown_passed")
            self._probes = 0
        return self._state

    def _set(self, new: State, reason: str) -> None:
        old, self._state = self._state, new
        if old is not new and self._listener is not None:
            self._listener(self.name, old, new, reason)

    def allow(self) -> bool:
        """May a call go to this target now? In half-open, takes a probe slot."""
        state = self.state
        if state is State.CLOSED:
            return True
        if state is State.OPEN:
            return False
        now = self._clock()
        if now >= self._probe_reset:
            self._probes = 0  # a probe that never reported back frees its slot
        if self._probes >= self.cfg.half_open_probes:
            return False
        self._probes += 1
        self._probe_reset = now + self.cfg.cooldown_s
        return True

    def would_allow(self) -> bool:
        """``allow`` without taking a probe slot (to plan the fallback chain)."""
        return self.state is not State.OPEN

    def record_success(self) -> None:
        if self._state is State.CLOSED and not self.consecutive:
            self._window.add(self._clock(), False)
            return
        if self.state is State.OPEN:
            return  # a call from before the trip finished late; the cool-down stands
        self.consecutive = 0
        self._window.add(self._clock(), False)
        if self._state is State.HALF_OPEN:
            self._window.clear()
            self._set(State.CLOSED, "probe_succeeded")

    def record_failure(self, open_for_s: float | None = None) -> None:
        """A failed call; ``open_for_s`` (a 429's ``Retry-After``) opens at once for that long."""
        now = self._clock()
        state = self.state
        self.consecutive += 1
        self._window.add(now, True)
        if state is State.OPEN:
            if open_for_s:
                self.open_until = max(self.open_until, now + min(open_for_s, self.cfg.max_open_s))
            return
        if state is State.HALF_OPEN:
            self.trip(open_for_s, "probe_failed")
            return
        if open_for_s:
            self.trip(open_for_s, "retry_after")
        elif self.consecutive >= self.cfg.failure_threshold:
            self.trip(None, "consecutive_failures")
        elif self._rate_tripped(now):
            self.trip(None, "failure_rate")

    def _rate_tripped(self, now: float) -> bool:
        calls, fails = self._window.totals(now)
        return calls >= self.cfg.min_requests and fails >= self.cfg.failure_rate * calls

    def trip(self, open_for_s: float | None, reason: str) -> None:
        """Open now, for ``open_for_s`` or the cool-down (capped at ``max_open_s``)."""
        wait = min(open_for_s or self.cfg.cooldown_s, self.cfg.max_open_s)
        self.open_until = self._clock() + wait
        self._probes = 0
        self._set(State.OPEN, reason)

    def mirror(self, state: State, open_for_s: float, consecutive: int, reason: str) -> None:
        """Adopt the shared state another replica decided (see breaker_redis)."""
        self.consecutive = consecutive
        if state is State.OPEN:
            self.open_until = self._clock() + open_for_s
            self._set(State.OPEN, reason)
        elif state is State.CLOSED and self._state is not State.CLOSED:
            self.open_until = 0.0
            self._set(State.CLOSED, reason)

    def snapshot(self) -> dict[str, Any]:
        state = self.state
        now = self._clock()
        calls, fails = self._window.totals(now)
        return {
            "target": self.name, "state": state.label,
            "open_for_s": round(max(0.0, self.open_until - now), 3)
            if state is State.OPEN else 0.0,
            "consecutive_failures": self.consecutive,
            "window": {"calls": calls, "failures": fails, "seconds": self.cfg.window_s},
        }


class BreakerBoard:
    """The breakers of every target, created on first use; what the route talks to.

    The async methods are the seam :class:`~bastion.resilience.breaker_redis.RedisBreakerBoard`
    overrides to share state; this in-process board never awaits anything.
    """

    shared = False

    def __init__(self, cfg: BreakerConfig, metrics: Metrics | None = None,
                 enabled: bool = True) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.enabled = enabled
        self._breakers: dict[str, Breaker] = {}

    def get(self, target: str) -> Breaker:
        b = self._breakers.get(target)
        if b is None:
            b = self._breakers[target] = Breaker(target, self.cfg, self._changed)
            if self.metrics is not None:
                self.metrics.breaker_state.labels(target).set(0)
        return b

    def _changed(self, target: str, old: State, new: State, reason: str) -> None:
        _log().warning("breaker_state", target=target, old=old.label, new=new.label,
                     reason=reason, ts=time.time())
        if self.metrics is not None:
            self.metrics.breaker_state.labels(target).set(int(new))
            self.metrics.breaker_transitions.labels(target, new.label).inc()

    def would_allow(self, target: str) -> bool:
        return not self.enabled or self.get(target).would_allow()

    async def allow(self, target: str) -> bool:
        return not self.enabled or self.get(target).allow()

    async def success(self, target: str) -> None:
        if self.enabled:
            self.get(target).record_success()

    async def failure(self, target: str, open_for_s: float | None = None) -> None:
        if self.enabled:
            self.get(target).record_failure(open_for_s)

    def snapshot(self) -> list[dict[str, Any]]:
        return [b.snapshot() for b in self._breakers.values()]

    async def aclose(self) -> None:
        return None
