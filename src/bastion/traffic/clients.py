"""Client limits: what one request charges against its key, user and team.

Each scope (``k:<key id>``, ``u:<user>``, ``t:<team>``) may have ``rpm`` and
``tpm`` (sliding windows of ``traffic.window_s``), ``daily_tokens`` and
``monthly_tokens`` (UTC calendar quotas), ``budget_usd`` (nano-dollars,
over its ``budget_period``, a key's over ``traffic.key_budget_period``; a key's
lifetime budget is seeded from the usage log the first time a ledger sees it) and
``concurrency`` (requests in progress: a quota held while the request runs and
settled to nothing when it ends; a reservation left unsettled by a crash expires
after ``traffic.hold_s``). A key's
own ``rpm``/``tpm``/``budget_usd`` come from the key; ``traffic.defaults.key``
fills what the key leaves unset;
``traffic.users``/``teams`` entries override ``traffic.defaults.user``/``team``
field by field.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

from bastion.config.traffic_settings import ClientLimits, KeyLimits, Period, TrafficSettings
from bastion.core.context import Identity
from bastion.traffic.ledger import CONCURRENT, NANO, Charge

_DAY_S = 86400
_CACHE_MAX = 10_000
_MARGIN_MS = 3_600_000  # a periodic counter outlives its period by an hour (late settles)


def merge(first: ClientLimits, then: KeyLimits) -> ClientLimits:
    """Field by field: ``first``'s value when set, else ``then``'s (if it has the field)."""
    data = {k: v if v is not None else getattr(then, k, None)
            for k, v in first.model_dump().items()}
    return ClientLimits(**data)


@dataclass(slots=True, frozen=True)
class _PeriodIds:
    second: int
    day: str
    day_ttl_ms: int
    month: str
    month_ttl_ms: int


class Periods:
    """UTC day and month ids and their remaining lifetimes, recomputed once a second."""

    def __init__(self) -> None:
        self._cur = self._compute(int(time.time()))

    @staticmethod
    def _compute(now: int) -> _PeriodIds:
        t = time.gmtime(now)
        day_end = (now // _DAY_S + 1) * _DAY_S
        y, m = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        month_end = calendar.timegm((y, m, 1, 0, 0, 0, 0, 0, 0))
        return _PeriodIds(now, f"d{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}",
                          (day_end - now) * 1000 + _MARGIN_MS,
                          f"m{t.tm_year:04d}{t.tm_mon:02d}",
                          (month_end - now) * 1000 + _MARGIN_MS)

    def now(self) -> _PeriodIds:
        sec = int(time.time())
        if sec != self._cur.second:
            self._cur = self._compute(sec)
        return self._cur

    def of(self, period: Period) -> tuple[str, int]:
        if period == "lifetime":
            return "", 0
        p = self.now()
        return (p.day, p.day_ttl_ms) if period == "day" else (p.month, p.month_ttl_ms)


class ClientPlan:
    """Builds the charges of one request from the identity and ``traffic`` settings."""

    def __init__(self, settings: TrafficSettings) -> None:
        self.s = settings
        self.window_ms = max(1, round(settings.window_s * 1000))
        d = settings.defaults
        self.users = {u: merge(v, d.user) for u, v in settings.users.items()}
        self.teams = {t: merge(v, d.team) for t, v in settings.teams.items()}
        self.periods = Periods()
        self.any_user = bool(self.users) or d.user != ClientLimits()
        self.any_team = bool(self.teams) or d.team != ClientLimits()
        self._cache: dict[Identity, list[tuple[str, str, ClientLimits]]] = {}

    def limits_of(self, ident: Identity) -> list[tuple[str, str, ClientLimits]]:
        """(scope key, label, limits) for the key, its user and its team (cached per
        identity: a key's record changes its Identity, so a stale entry is never hit)."""
        hit = self._cache.get(ident)
        if hit is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            hit = self._cache[ident] = self._limits_of(ident)
        return hit

    def _limits_of(self, ident: Identity) -> list[tuple[str, str, ClientLimits]]:
        d = self.s.defaults
        key = ClientLimits(rpm=ident.rpm, tpm=ident.tpm, budget_usd=ident.budget_usd,
                           budget_period=self.s.key_budget_period)
        # A caller JWT's per-user limits count like a key's, under its stable jwt_ id.
        label = "key" if ident.via == "key" else "caller"
        out = [("k:" + ident.key_id, label, merge(key, d.key))]
        if ident.user is not None and self.any_user:
            out.append(("u:" + ident.user, "user", self.users.get(ident.user, d.user)))
        if ident.team is not None and self.any_team:
            out.append(("t:" + ident.team, "team", self.teams.get(ident.team, d.team)))
        return out

    def has_limits(self, ident: Identity) -> bool:
        """Whether any limit, quota or budget applies to ``ident`` (cached with limits_of)."""
        return any(
            lim.rpm is not None or lim.tpm is not None or lim.daily_tokens is not None
            or lim.monthly_tokens is not None or lim.budget_usd is not None
            or lim.concurrency is not None
            for _, _, lim in self.limits_of(ident))

    def priority(self, ident: Identity) -> int:
        """The capacity-queue priority: the highest of the user's and the team's."""
        p = ident.priority
        for _, _, lim in self.limits_of(ident)[1:]:
            if lim.priority is not None:
                p = max(p, lim.priority)
        return p

    def charges(self, ident: Identity, tokens: int, worst_nano: int) -> list[Charge]:
        """Every charge ``ident``'s limits ask for: ``tokens`` (prompt + allowed output)
        and ``worst_nano`` (the worst-case cost) are the amounts reserved."""
        out: list[Charge] = []
        alert = self.s.alerts.fraction
        for scope, label, lim in self.limits_of(ident):
            if lim.rpm is not None:
                out.append(Charge(scope + ":rpm", lim.rpm, 1, self.window_ms,
                                  label=label + " rpm"))
            if lim.tpm is not None:
                out.append(Charge(scope + ":tpm", lim.tpm, tokens, self.window_ms,
                                  label=label + " tpm", unit="tokens"))
            if lim.concurrency is not None:
                out.append(Charge(scope + ":running", lim.concurrency, 1,
                                  label=label + " concurrency", unit=CONCURRENT))
            for field, period in (("daily_tokens", "day"), ("monthly_tokens", "month")):
                cap = getattr(lim, field)
                if cap is not None:
                    pid, ttl = self.periods.of(period)  # type: ignore[arg-type]
                    out.append(Charge(f"{scope}:{field}", cap, tokens, ttl_ms=ttl, period=pid,
                                      label=f"{label} {field.replace('_', ' ')}",
                                      unit="tokens"))
            if lim.budget_usd is not None:
                period = lim.budget_period or "lifetime"
                pid, ttl = self.periods.of(period)
                cap = round(lim.budget_usd * NANO)
                seed = ident.key_id if scope[0] == "k" and period == "lifetime" else None
                out.append(Charge(f"{scope}:usd", cap, worst_nano, ttl_ms=ttl, period=pid,
                                  seed_key_id=seed, alert_at=round(cap * alert) if cap else 0,
                                  label=f"{label} budget", unit="nano_usd"))
        return out
