"""Settings of the traffic part (global section and per-alias section).

Provider capacity itself is configured where the provider is
(``providers.X.limits`` and a target's ``limits``, with ``tier`` presets from
``data/tiers.yaml``); this section holds the limits of the gateway's own
clients (keys, users, teams), budgets, the capacity queue and what happens
when Redis cannot be reached. See ``docs/traffic.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bastion.config.extensions import _Strict

Period = Literal["lifetime", "day", "month"]


class KeyLimits(_Strict):
    """Limits every key gets unless it has its own (``traffic.defaults.key``). ``None``
    means no limit.

    ``rpm``/``tpm`` count over ``traffic.window_s`` (60 s unless changed);
    ``daily_tokens``/``monthly_tokens`` are calendar quotas (UTC); ``budget_usd`` is
    spent over ``traffic.key_budget_period``; ``concurrency`` caps the requests
    (streams included, until they end) in progress at once.
    """

    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    daily_tokens: int | None = Field(None, ge=1)
    monthly_tokens: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, ge=0)
    concurrency: int | None = Field(None, ge=1)


class ClientLimits(KeyLimits):
    """Limits of a user or a team: a key's limits, plus the period of the budget
    (``budget_period``, default ``lifetime``) and a capacity-queue ``priority``
    (higher first; a request takes the highest of its user's and team's)."""

    budget_period: Period | None = None
    priority: int | None = None


class ClientDefaults(_Strict):
    """Limits applied to every key, user or team that has none of its own."""

    key: KeyLimits = Field(default_factory=KeyLimits)
    user: ClientLimits = Field(default_factory=ClientLimits)
    team: ClientLimits = Field(default_factory=ClientLimits)


class AlertSettings(_Strict):
    """Soft budget alerts: once per budget and period, when spend crosses ``fraction``."""

    fraction: float = Field(0.8, gt=0, le=1)
    webhook_url: str | None = None  # POSTed a JSON event; never logged
    webhook_timeout_ms: int = Field(2000, ge=1)


class QueueSettings(_Strict):
    """The capacity queue in front of each provider target."""

    max_depth: int = Field(1000, ge=0)  # per target; a full queue answers 429 at once
    poll_ms: int = Field(200, ge=1)  # how often a waiting replica re-asks Redis at most


class RedisFailure(_Strict):
    """What to do while Redis is unreachable, per concern.

    ``budgets``: ``closed`` refuses requests that have a budget or token quota
    (429 ``rate_limit_exceeded`` with a short Retry-After: the spend cannot be
    verified); ``local`` counts them in this process with limits divided by
    ``state.replicas``. ``rate_limits``: ``local`` (the same division) or
    ``open`` (no rate limits while Redis is down).
    """

    budgets: Literal["closed", "local"] = "closed"
    rate_limits: Literal["local", "open"] = "local"
    timeout_ms: int = Field(1000, ge=1)  # per Redis call, waiting for a connection included
    retry_s: float = Field(2.0, gt=0)  # once Redis is found down, use the fallback this long


class TrafficSettings(_Strict):
    """The top-level `traffic:` section."""

    enabled: bool = True
    window_s: float = Field(60.0, gt=0, description="the window of every rpm/tpm limit")
    default_output_tokens: int = Field(1024, ge=1, description="reserved when no max_tokens")
    key_budget_period: Period = "lifetime"
    defaults: ClientDefaults = Field(default_factory=ClientDefaults)
    users: dict[str, ClientLimits] = Field(default_factory=dict)
    teams: dict[str, ClientLimits] = Field(default_factory=dict)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    redis_prefix: str = "bastion:traffic:"
    on_redis_error: RedisFailure = Field(default_factory=RedisFailure)
    estimate_over_chars: int = Field(
        4_000_000, ge=0, description="request bodies larger than this are estimated, not tokenised")
    hold_s: float = Field(600.0, gt=0, description="a reservation left unsettled expires")


class AliasTraffic(_Strict):
    """The per-alias `models.<alias>.traffic:` section."""

    queue_timeout_ms: int = Field(30000, ge=0, description="longest wait for provider capacity")
    default_output_tokens: int | None = Field(None, ge=1)
