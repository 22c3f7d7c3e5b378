"""A retry budget: retries may be at most a fraction of live traffic.

Token bucket (as in Finagle and gRPC): every first attempt deposits ``ratio``
tokens, time deposits ``min_per_s`` tokens a second (so a quiet gateway may still
retry), and every retry withdraws one. The bucket holds at most ``cap`` tokens,
so a long calm spell cannot save up for a storm. When the bucket is empty a
failing attempt is not retried (the route moves on to the next target or the
degraded answer), so an outage never multiplies the load on a provider.

One budget per worker process; it is O(1) in memory and time.
"""

from __future__ import annotations

import time


class RetryBudget:
    def __init__(self, ratio: float = 0.2, min_per_s: float = 5.0,
                 cap: float | None = None) -> None:
        self.ratio = ratio
        self.min_per_s = min_per_s
        self.cap = cap if cap is not None else max(10.0, min_per_s * 10)
        self._tokens = self.cap
        self._at = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        if self.min_per_s:
            self._tokens = min(self.cap, self._tokens + (now - self._at) * self.min_per_s)
        self._at = now

    def deposit(self) -> None:
        """One first attempt happened."""
        self._tokens = min(self.cap, self._tokens + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry token; ``False`` when the budget is spent."""
        self._refill()
        if self._tokens >= 1.0 - 1e-9:  # tenths of a token add up inexactly
            self._tokens -= 1.0
            return True
        return False

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens
