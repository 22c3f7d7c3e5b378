"""The ledger: atomic check-and-reserve over several counters at once, then settle.

Every limit the traffic part enforces is a :class:`Charge` against one counter:

* a **window** counter (``window_ms > 0``) is an exact sliding log: an entry
  per admitted request with its amount (1 for requests, tokens for TPM); the
  sum of entries younger than the window must stay within ``limit``. Entries
  leave the window by themselves, so a crashed replica's reservation is gone
  one window later.
* a **quota** counter (``window_ms == 0``) holds ``spent`` plus in-flight
  ``reserved`` amounts; each reservation carries an expiry (``hold_s``) after
  which it no longer counts, so an unsettled reservation cannot block a
  budget forever. Periodic quotas (a day, a month) live under a key with the
  period's id and expire with it (``ttl_ms``).

:meth:`Ledger.reserve` checks every charge and records all of them, or none:
with the in-memory ledger that is plain arithmetic on the event loop (no
``await`` between check and record), with Redis one Lua script. Amounts are
integers: tokens, requests, or nano-dollars for budgets.
:meth:`Ledger.settle` replaces each reservation with the real amount.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

NANO = 1_000_000_000  # budgets are counted in nano-dollars
CONCURRENT = "concurrent"  # the unit of concurrency quotas: held while running, settled to 0


@dataclass(slots=True)
class Charge:
    """One amount against one counter. ``label`` names the limit for people
    (``"key rpm"``, ``"team budget"``); it never holds a secret."""

    key: str
    limit: int
    amount: int
    window_ms: int = 0
    ttl_ms: int = 0  # quota only: the counter's lifetime (its period); 0 = forever
    period: str = ""  # quota only: the period's id, part of the counter's key
    seed_key_id: str | None = None  # quota only: seed a missing counter from the usage log
    alert_at: int = 0  # quota only: spend that triggers a one-off alert; 0 = none
    label: str = ""
    unit: str = "requests"  # requests, tokens, input, output, nano_usd, concurrent

    @property
    def windowed(self) -> bool:
        return self.window_ms > 0


@dataclass(slots=True)
class Verdict:
    """The answer to :meth:`Ledger.reserve`. On refusal ``failed`` is the charge's index
    and ``retry_after_s`` when it could fit (None: not before the period ends, or never).
    On success ``remaining``/``reset_ms`` per charge feed the ``x-ratelimit-*`` headers."""

    ok: bool
    failed: int = -1
    retry_after_s: float | None = None
    remaining: list[int] = field(default_factory=list)
    reset_ms: list[int] = field(default_factory=list)
    need_seed: bool = False


class Ledger(Protocol):
    """Atomic multi-counter reservations (see the module docstring)."""

    async def reserve(self, charges: list[Charge], rid: str, hold_s: float) -> Verdict: ...

    async def settle(self, charges: list[Charge], rid: str, actual: list[int]) -> list[int]:
        """Replace reservation ``rid`` by ``actual`` amounts; returns the indexes of the
        quotas whose spend crossed their ``alert_at`` just now (once per period)."""
        ...

    async def seed(self, charge: Charge, spent: int) -> None:
        """Set a missing quota's spend (from the usage log); a no-op if it exists."""
        ...


class _Window:
    __slots__ = ("entries", "index", "total")

    def __init__(self) -> None:
        self.entries: deque[list[float | int | str]] = deque()  # [ts, amount, rid]
        self.index: dict[str, list[float | int | str]] = {}
        self.total = 0

    def evict(self, now: float, window_s: float) -> None:
        entries = self.entries
        edge = now - window_s
        while entries and float(entries[0][0]) <= edge:
            _, amount, rid = entries.popleft()
            self.total -= int(amount)
            self.index.pop(str(rid), None)

    def retry_after(self, now: float, window_s: float, need: int) -> float:
        freed = 0
        for ts, amount, _ in self.entries:
            freed += int(amount)
            if freed >= need:
                return float(ts) + window_s - now
        return window_s

    def reset_s(self, now: float, window_s: float) -> float:
        return float(self.entries[0][0]) + window_s - now if self.entries else 0.0


class _Quota:
    __slots__ = ("alerted", "expiries", "holds", "period", "reserved", "spent")

    def __init__(self, period: str) -> None:
        self.period = period
        self.spent = 0
        self.reserved = 0
        self.holds: dict[str, int] = {}
        self.expiries: list[tuple[float, str]] = []
        self.alerted = False

    def expire(self, now: float) -> None:
        exp = self.expiries
        while exp and exp[0][0] <= now:
            _, rid = heapq.heappop(exp)
            amount = self.holds.pop(rid, None)
            if amount is not None:
                self.reserved -= amount


class MemoryLedger:
    """The ledger of one process. Correct on one event loop: ``reserve`` never awaits
    between its check and its record. ``clock`` is injectable for tests."""

    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._quotas: dict[str, _Quota] = {}

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _quota(self, c: Charge) -> _Quota | None:
        q = self._quotas.get(c.key)
        if q is not None and q.period != c.period:
            q = None  # a new period starts from zero
        return q

    def reserve_now(self, charges: list[Charge], rid: str, hold_s: float) -> Verdict:
        """:meth:`reserve` without the coroutine (the queue's fast path uses it)."""
        now = self._now()
        for i, c in enumerate(charges):
            if c.windowed:
                w = self._windows.get(c.key)
                if w is None:
                    if c.amount > c.limit:
                        return Verdict(False, i, None)
                    continue
                ws = c.window_ms / 1000
                w.evict(now, ws)
                if w.total + c.amount > c.limit:
                    retry = w.retry_after(now, ws, w.total + c.amount - c.limit) \
                        if c.amount <= c.limit else None
                    return Verdict(False, i, retry)
            else:
                q = self._quota(c)
                if q is None:
                    if c.seed_key_id is not None and c.key not in self._quotas:
                        return Verdict(False, i, need_seed=True)
                    if c.amount > c.limit:
                        return Verdict(False, i, None)
                    continue
                q.expire(now)
                if q.spent + q.reserved + c.amount > c.limit:
                    return Verdict(False, i, None)
        return self._record(charges, rid, hold_s, now)

    def _record(self, charges: list[Charge], rid: str, hold_s: float, now: float) -> Verdict:
        remaining: list[int] = []
        reset_ms: list[int] = []
        for c in charges:
            if c.windowed:
                w = self._windows.get(c.key)
                if w is None:
                    w = self._windows[c.key] = _Window()
                entry: list[float | int | str] = [now, c.amount, rid]
                w.entries.append(entry)
                w.index[rid] = entry
                w.total += c.amount
                remaining.append(c.limit - w.total)
                reset_ms.append(round(w.reset_s(now, c.window_ms / 1000) * 1000))
            else:
                q = self._quota(c)
                if q is None:
                    q = self._quotas[c.key] = _Quota(c.period)
                q.holds[rid] = c.amount
                heapq.heappush(q.expiries, (now + hold_s, rid))
                q.reserved += c.amount
                remaining.append(c.limit - q.spent - q.reserved)
                reset_ms.append(0)
        return Verdict(True, remaining=remaining, reset_ms=reset_ms)

    async def reserve(self, charges: list[Charge], rid: str, hold_s: float) -> Verdict:
        return self.reserve_now(charges, rid, hold_s)

    def peek_now(self, charges: list[Charge]) -> list[int]:
        """What each counter holds now (window: the sum inside it; quota: spent and
        reserved), reserving nothing; routing reads capacity left with it."""
        now = self._now()
        out: list[int] = []
        for c in charges:
            if c.windowed:
                w = self._windows.get(c.key)
                if w is not None:
                    w.evict(now, c.window_ms / 1000)
                out.append(w.total if w is not None else 0)
            else:
                q = self._quota(c)
                if q is not None:
                    q.expire(now)
                out.append(q.spent + q.reserved if q is not None else 0)
        return out

    def settle_now(self, charges: list[Charge], rid: str, actual: list[int]) -> list[int]:
        alerts: list[int] = []
        for i, (c, real) in enumerate(zip(charges, actual, strict=True)):
            if c.windowed:
                w = self._windows.get(c.key)
                entry = w.index.get(rid) if w is not None else None
                if w is not None and entry is not None:
                    w.total += real - int(entry[1])
                    entry[1] = real
                continue
            q = self._quota(c)
            if q is None:
                q = self._quotas[c.key] = _Quota(c.period)
            held = q.holds.pop(rid, None)
            if held is not None:
                q.reserved -= held
            before = q.spent
            q.spent += real
            if c.alert_at and before < c.alert_at <= q.spent and not q.alerted:
                q.alerted = True
                alerts.append(i)
        return alerts

    async def settle(self, charges: list[Charge], rid: str, actual: list[int]) -> list[int]:
        return self.settle_now(charges, rid, actual)

    async def seed(self, charge: Charge, spent: int) -> None:
        if charge.key not in self._quotas:
            q = self._quotas[charge.key] = _Quota(charge.period)
            q.spent = spent
