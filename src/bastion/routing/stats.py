"""What the route measures for the strategies: requests in flight and recent time to
first byte, per target, in this process (replicas balance their own traffic).

Both maps hold one entry per configured target, never more. A stream counts as in
flight until it ends: its :class:`Lease` is released when the relay finishes, or when
the stream is dropped unread (``__del__``), so a count can never leak.
"""

from __future__ import annotations

# Weight of the newest time-to-first-byte sample in the moving average: a target that
# slows down (or recovers) shows within a handful of requests.
ALPHA = 0.3


class TargetStats:
    __slots__ = ("in_flight", "ttfb")

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.ttfb: dict[str, float] = {}  # seconds, moving average

    def lease(self, target: str) -> Lease:
        """Count one request in flight on ``target`` until the lease is released."""
        self.in_flight[target] = self.in_flight.get(target, 0) + 1
        return Lease(self, target)

    def observe(self, target: str, seconds: float) -> None:
        """A successful attempt's time to its answer (a stream: to its first chunk)."""
        old = self.ttfb.get(target)
        self.ttfb[target] = seconds if old is None else old + ALPHA * (seconds - old)


class Lease:
    """One in-flight request on one target; :meth:`release` is idempotent."""

    __slots__ = ("stats", "target")

    def __init__(self, stats: TargetStats, target: str) -> None:
        self.stats: TargetStats | None = stats
        self.target = target

    def release(self) -> None:
        stats = self.stats
        if stats is not None:
            self.stats = None
            stats.in_flight[self.target] -= 1

    __del__ = release
