"""Retry policy as small strategies that combine (tenacity-style).

A :class:`Stop` says whether to give up on a target after an attempt; a
:class:`Wait` says how long to sleep before the next one. They combine::

    stop = stop_after_attempt(3) | stop_on_deadline(margin_s=0.05)
    wait = wait_retry_after(cap_s=30) | wait_full_jitter(0.1, 5.0)

``a | b`` on stops means "stop when either says so"; ``a | b`` on waits means
"``a``'s advice when it has one, else ``b``'s". :class:`RetryPolicy` bundles the
two with the question of which errors are worth retrying at all. Retries run in
the route step, never inside adapters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bastion.core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderStreamBroken,
    ProviderTimeout,
)

# 429, 5xx, connection failures and time-outs are worth another try; a malformed
# answer, a refused key or a refused request are not (fallback may still help).
RETRYABLE: tuple[type[ProviderError], ...] = (
    ProviderRateLimited, ProviderServerError, ProviderConnectionError, ProviderTimeout,
    ProviderStreamBroken,
)


@dataclass(slots=True)
class Attempt:
    """What a strategy sees after a failed attempt."""

    number: int  # 1 for the first attempt on this target
    error: ProviderError
    remaining_s: float | None  # time left before the request's deadline


class Stop:
    """Give up on the target after this attempt? Subclasses implement ``__call__``."""

    def __call__(self, a: Attempt) -> bool:
        raise NotImplementedError

    def __or__(self, other: Stop) -> Stop:
        return _StopAny(self, other)


@dataclass(slots=True)
class _StopAny(Stop):
    first: Stop
    second: Stop

    def __call__(self, a: Attempt) -> bool:
        return self.first(a) or self.second(a)


@dataclass(slots=True)
class stop_after_attempt(Stop):
    attempts: int

    def __call__(self, a: Attempt) -> bool:
        return a.number >= self.attempts


@dataclass(slots=True)
class stop_on_deadline(Stop):
    """Stop when less than ``margin_s`` is left: another call could not finish."""

    margin_s: float = 0.05

    def __call__(self, a: Attempt) -> bool:
        return a.remaining_s is not None and a.remaining_s <= self.margin_s


class Wait:
    """Seconds to wait before the next attempt, or ``None`` for "no advice"."""

    def __call__(self, a: Attempt) -> float | None:
        raise NotImplementedError

    def __or__(self, other: Wait) -> Wait:
        return _WaitFirst(self, other)


@dataclass(slots=True)
class _WaitFirst(Wait):
    first: Wait
    second: Wait

    def __call__(self, a: Attempt) -> float | None:
        w = self.first(a)
        return self.second(a) if w is None else w


@dataclass(slots=True)
class wait_full_jitter(Wait):
    """Exponential backoff with full jitter: uniform(0, min(cap, base · 2^(n-1)))."""

    base_s: float
    cap_s: float
    rng: random.Random | None = None

    def __call__(self, a: Attempt) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** (a.number - 1)))
        rand = self.rng.random() if self.rng is not None else random.random()  # noqa: S311 - jitter
        return float(ceiling * rand)


@dataclass(slots=True)
class wait_retry_after(Wait):
    """The provider's advice (``Retry-After``, reset headers), plus a small margin.

    Advice longer than ``cap_s`` becomes ``inf``: the caller moves on rather than wait.
    """

    cap_s: float
    margin_s: float = 0.02

    def __call__(self, a: Attempt) -> float | None:
        advised = a.error.retry_after_s
        if advised is None:
            return None
        if advised > self.cap_s:
            return float("inf")
        return advised + self.margin_s


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """Which errors are retried, when to stop and how long to wait (see module doc)."""

    stop: Stop
    wait: Wait
    attempts_before_fallback: int = 1
    retry_on: tuple[type[ProviderError], ...] = RETRYABLE

    def delay(self, a: Attempt, last_target: bool) -> float | None:
        """Seconds to wait before retrying the same target, or ``None`` to move on.

        ``inf`` never comes back: advice that cannot be followed is ``None``. A
        target with a later target behind it is tried ``attempts_before_fallback``
        times; the last one until ``stop`` says so, within the deadline.
        """
        if not isinstance(a.error, self.retry_on):
            return None
        if not last_target and a.number >= self.attempts_before_fallback:
            return None
        if self.stop(a):
            return None
        w = self.wait(a) or 0.0
        if w == float("inf"):
            return None
        if a.remaining_s is not None and w >= a.remaining_s:
            return None  # sleeping past the deadline helps nobody: fail fast
        return w

    @classmethod
    def standard(
        cls, max_attempts: int = 3, base_s: float = 0.1, cap_s: float = 5.0,
        max_retry_after_s: float = 30.0, attempts_before_fallback: int = 1,
        rng: random.Random | None = None,
    ) -> RetryPolicy:
        return cls(
            stop=stop_after_attempt(max_attempts) | stop_on_deadline(),
            wait=wait_retry_after(max_retry_after_s) | wait_full_jitter(base_s, cap_s, rng),
            attempts_before_fallback=attempts_before_fallback,
        )
