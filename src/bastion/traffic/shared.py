"""The ledger replicas share, and what happens while Redis is unreachable.

:class:`SharedLedger` sends every reservation to Redis. When a call fails it
switches to this process's :class:`MemoryLedger` for ``retry_s`` seconds (so a
dead Redis costs one short timeout now and then, never one per request) while a
background probe pings Redis every 0.2 s and switches back as soon as it answers,
and applies the policy of ``traffic.on_redis_error``:

* rate limits (window charges) and concurrency limits: ``local`` counts them here
  with every limit
  divided by ``state.replicas`` (so N replicas together stay near the limit),
  ``open`` admits without counting;
* budgets and token quotas: ``closed`` refuses the request with
  :class:`~bastion.core.errors.RateLimited` (429, a short ``Retry-After``,
  a message that says the spend cannot be verified right now); ``local``
  counts them here like rate limits.

A reservation is settled on the ledger that made it (:class:`Reservation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from bastion.core.errors import RateLimited
from bastion.observe.logging import get_logger
from bastion.traffic.ledger import CONCURRENT, Charge, Ledger, MemoryLedger, Verdict
from bastion.traffic.ledger_redis import LedgerUnavailable

_log = get_logger("bastion.traffic")

_BATCH = 256
_PROBE_S = 0.2
_BACKLOG_MAX = 100_000
UNVERIFIABLE = (
    "The gateway cannot check this key's budget right now, so it is holding requests "
    "back for a moment. Please try again in a few seconds."
)


class RemoteLedger(Ledger, Protocol):
    """A ledger shared with other processes (Redis, or the ledger process of one
    machine's workers); its calls raise :class:`LedgerUnavailable` when it is down."""

    async def settle_many(self, items: list[tuple[list[Charge], str, list[int]]]
                          ) -> list[list[int]]: ...

    async def peek(self, charges: list[Charge]) -> list[int]:
        """What each counter holds now, reserving nothing (routing's headroom)."""
        ...

    async def ping(self) -> None: ...


@dataclass(slots=True)
class Reservation:
    """What :meth:`SharedLedger.reserve` took: settle it exactly once."""

    ledger: Ledger
    charges: list[Charge]
    rid: str
    verdict: Verdict


class SharedLedger:
    """Redis first, this process's ledger as the fallback (see the module docstring).

    Without Redis (``redis is None``) it is simply the memory ledger."""

    def __init__(
        self, redis: RemoteLedger | None, local: MemoryLedger, replicas: int = 1,
        budgets: Literal["closed", "local"] = "closed",
        rate_limits: Literal["local", "open"] = "local", retry_s: float = 2.0,
    ) -> None:
        self.redis = redis
        self.local = local
        self.replicas = max(1, replicas)
        self.budgets = budgets
        self.rate_limits = rate_limits
        self.retry_s = retry_s
        self._down_until = 0.0
        self._timeouts = 0
        self._backlog: deque[tuple[Reservation, list[int], Callable[[Charge], None] | None]] \
            = deque()
        self._settler: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None

    @property
    def shared(self) -> bool:
        return self.redis is not None

    def redis_up(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._down_until

    def _failed(self, e: LedgerUnavailable) -> None:
        """A refused connection marks Redis down at once; slow answers only when three
        come in a row (a busy loop makes one call late, not Redis dead)."""
        if e.timeout:
            self._timeouts += 1
            if self._timeouts < 3:
                return
        self._timeouts = 0
        self._mark_down(str(e))

    def _mark_down(self, why: str) -> None:
        if time.monotonic() >= self._down_until:
            _log.warning("redis_unavailable", concern="traffic", error=why,
                         fallback_s=self.retry_s)
        self._down_until = time.monotonic() + self.retry_s
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        """While marked down, ping every :data:`_PROBE_S`: back on Redis as soon as it
        answers, not ``retry_s`` later."""
        assert self.redis is not None
        while time.monotonic() < self._down_until:
            await asyncio.sleep(_PROBE_S)
            try:
                await self.redis.ping()
            except LedgerUnavailable:
                continue
            self._down_until = 0.0
            self._timeouts = 0
            _log.info("redis_available", concern="traffic")
            return

    def _local_charges(self, charges: list[Charge]) -> list[Charge]:
        out: list[Charge] = []
        for c in charges:
            rate_like = c.windowed or c.unit == CONCURRENT  # not spend: local or open
            if rate_like and self.rate_limits == "open":
                continue
            if not rate_like and self.budgets == "closed":
                raise RateLimited(UNVERIFIABLE, retry_after_s=self.retry_s + 1)
            limit = c.limit if self.replicas == 1 else max(1, c.limit // self.replicas)
            out.append(replace(c, limit=limit, seed_key_id=None))
        return out

    async def reserve(self, charges: list[Charge], rid: str, hold_s: float) -> Reservation:
        """Check-and-reserve ``charges`` all together (the verdict says if it worked)."""
        if self.redis is not None and self.redis_up():
            try:
                v = await self.redis.reserve(charges, rid, hold_s)
            except LedgerUnavailable as e:
                self._failed(e)
            else:
                self._timeouts = 0
                return Reservation(self.redis, charges, rid, v)
        if self.redis is None:
            return Reservation(self.local, charges, rid,
                               self.local.reserve_now(charges, rid, hold_s))
        local = self._local_charges(charges)
        v = self.local.reserve_now(local, rid, hold_s)
        if not v.ok:
            # point the failure at the caller's list, not the filtered one
            v.failed = charges.index(next(c for c in charges if c.key == local[v.failed].key))
        else:
            v = _expand(charges, local, v)
        return Reservation(self.local, local, rid, v)

    async def left(self, charges: list[Charge]) -> list[float]:
        """The share of each counter's limit still free (0 to 1), reserving nothing:
        Redis's count when it is up; else this process's, against the limit divided by
        ``state.replicas`` as :meth:`reserve` would count it (rate limits ``open``: 1)."""
        if self.redis is not None and self.redis_up():
            try:
                used = await self.redis.peek(charges)
            except LedgerUnavailable as e:
                self._failed(e)
            else:
                self._timeouts = 0
                return [max(0.0, 1 - u / c.limit) for c, u in zip(charges, used, strict=True)]
        if self.redis is not None and self.rate_limits == "open":
            return [1.0] * len(charges)
        scale = self.replicas if self.redis is not None else 1
        used = self.local.peek_now(charges)
        return [max(0.0, 1 - u / max(1, c.limit // scale))
                for c, u in zip(charges, used, strict=True)]

    async def settle(self, res: Reservation, real: dict[str, int]) -> list[Charge]:
        """Settle ``res`` with the real amount of each unit (a unit not in ``real``
        keeps its reserved amount); returns the quotas that crossed their alert."""
        if not res.charges:
            return []
        actual = [real.get(c.unit, c.amount) for c in res.charges]
        try:
            crossed = await res.ledger.settle(res.charges, res.rid, actual)
        except LedgerUnavailable as e:
            # the reservation expires by itself (window or hold); the real spend is lost
            # to the shared counter, so say so
            self._failed(e)
            _log.warning("settle_lost", concern="traffic", counters=len(res.charges))
            return []
        return [res.charges[i] for i in crossed]

    def settle_soon(self, res: Reservation, real: dict[str, int],
                    on_alert: Callable[[Charge], None] | None = None) -> None:
        """Settle ``res`` without making the caller wait: at once for this process's
        ledger; for Redis through a bounded backlog that one task drains in pipelined
        batches (it survives the request's cancellation; :meth:`aclose` drains it)."""
        if not res.charges:
            return
        actual = [real.get(c.unit, c.amount) for c in res.charges]
        if isinstance(res.ledger, MemoryLedger):
            crossed = res.ledger.settle_now(res.charges, res.rid, actual)
            if on_alert is not None:
                for i in crossed:
                    on_alert(res.charges[i])
            return
        if len(self._backlog) >= _BACKLOG_MAX:
            # Redis is far behind: the reservation expires by itself (window or hold)
            _log.warning("settle_dropped", concern="traffic", backlog=len(self._backlog))
            return
        self._backlog.append((res, actual, on_alert))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        assert self.redis is not None
        while self._backlog:
            batch = [self._backlog.popleft()
                     for _ in range(min(_BATCH, len(self._backlog)))]
            try:
                results = await self.redis.settle_many(
                    [(r.charges, r.rid, actual) for r, actual, _ in batch])
            except LedgerUnavailable as e:
                self._failed(e)
                _log.warning("settle_lost", concern="traffic", reservations=len(batch))
                continue
            for (r, _, on_alert), crossed in zip(batch, results, strict=True):
                if on_alert is not None:
                    for i in crossed:
                        on_alert(r.charges[i])

    async def aclose(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self._settler is not None and not self._settler.done():
            await self._settler

    async def seed(self, charge: Charge, spent: int) -> None:
        ledger: Ledger = self.redis if self.redis is not None and self.redis_up() else self.local
        try:
            await ledger.seed(charge, spent)
        except LedgerUnavailable as e:
            self._failed(e)


def _expand(charges: list[Charge], local: list[Charge], v: Verdict) -> Verdict:
    """Remaining/reset per caller charge when some were dropped (rate limits open)."""
    if len(local) == len(charges):
        return v
    by_key = {c.key: (r, t) for c, r, t in zip(local, v.remaining, v.reset_ms, strict=True)}
    rem = [by_key.get(c.key, (c.limit, 0))[0] for c in charges]
    reset = [by_key.get(c.key, (c.limit, 0))[1] for c in charges]
    return Verdict(True, remaining=rem, reset_ms=reset)
