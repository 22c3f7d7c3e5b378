"""Settings of the resilience part (global section and per-alias section).

```yaml
resilience:
  retry:   {max_attempts: 3, attempts_before_fallback: 1, base_delay_ms: 100,
            max_delay_ms: 5000, max_retry_after_ms: 30000, budget_ratio: 0.2,
            budget_min_per_s: 5}
  breaker: {failure_threshold: 5, failure_rate: 0.5, min_requests: 20, window_s: 30,
            cooldown_ms: 10000, half_open_probes: 1, max_open_ms: 300000}
  stream_idle_timeout_ms: 30000
  redis_timeout_ms: 250
  otlp_endpoint: null          # or OTEL_EXPORTER_OTLP_ENDPOINT in the environment
models:
  chat:
    resilience:
      retry: {max_attempts: 2}            # overrides, key by key
      degrade: [cache, local, static]     # the degraded answers, in order
      local_fallback: ollama/llama3.2     # an openai_compatible provider/model
      stream_idle_timeout_ms: 10000
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bastion.config.extensions import _Strict

DegradeMode = Literal["cache", "local", "static"]
DEFAULT_DEGRADE: tuple[DegradeMode, ...] = ("cache", "local", "static")


class RetrySettings(_Strict):
    """Retries of one target, with exponential backoff and full jitter.

    ``max_attempts`` is how often the last target that can still answer is tried;
    a target with a later one behind it is tried ``attempts_before_fallback`` times
    (a failing provider costs one attempt, then traffic moves on). Retries draw from
    a budget: at most ``budget_ratio`` of first attempts plus ``budget_min_per_s``.
    """

    max_attempts: int = Field(3, ge=1, le=10)
    attempts_before_fallback: int = Field(1, ge=1, le=10)
    base_delay_ms: int = Field(100, ge=0)
    max_delay_ms: int = Field(5000, ge=0)
    max_retry_after_ms: int = Field(30000, ge=0, description="wait longer: move on instead")
    budget_ratio: float = Field(0.2, ge=0, le=10)
    budget_min_per_s: float = Field(5.0, ge=0)


class RetryOverride(_Strict):
    """Per-alias overrides of :class:`RetrySettings`; unset keys keep the global value."""

    max_attempts: int | None = Field(None, ge=1, le=10)
    attempts_before_fallback: int | None = Field(None, ge=1, le=10)
    base_delay_ms: int | None = Field(None, ge=0)
    max_delay_ms: int | None = Field(None, ge=0)
    max_retry_after_ms: int | None = Field(None, ge=0)


class BreakerSettings(_Strict):
    """A circuit breaker per target (provider/model).

    Opens after ``failure_threshold`` consecutive failures, or when at least
    ``min_requests`` calls in the last ``window_s`` failed at ``failure_rate`` or
    more; stays open ``cooldown_ms`` (or as long as a 429's ``Retry-After`` asks,
    capped at ``max_open_ms``), then lets ``half_open_probes`` calls through.
    """

    enabled: bool = True
    failure_threshold: int = Field(5, ge=1)
    failure_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1)
    window_s: float = Field(30.0, gt=0)
    cooldown_ms: int = Field(10000, ge=1)
    half_open_probes: int = Field(1, ge=1)
    max_open_ms: int = Field(300000, ge=1)


class ResilienceSettings(_Strict):
    """The top-level `resilience:` section."""

    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    stream_idle_timeout_ms: int = Field(30000, ge=1, description="longest gap between chunks")
    redis_timeout_ms: int = Field(250, ge=1, description="a shared-state call slower than "
                                  "this falls back to local breaker state")
    redis_prefix: str = "bastion:breaker:"
    otlp_endpoint: str | None = None
    service_name: str = "bastion"


class AliasResilience(_Strict):
    """The per-alias `models.<alias>.resilience:` section."""

    retry: RetryOverride = Field(default_factory=RetryOverride)
    degrade: list[DegradeMode] = Field(default_factory=lambda: list(DEFAULT_DEGRADE))
    local_fallback: str | None = Field(None, pattern=r"^[^/\s]+/\S+$")
    stream_idle_timeout_ms: int | None = Field(None, ge=1)
