"""Building the route's resilience parts from the settings: retry policies, the retry
budget, the breaker board (shared through Redis when ``state.redis`` is set), local
fallback targets and the tracer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from bastion.config.resilience_settings import AliasResilience, RetrySettings
from bastion.config.settings import Settings
from bastion.observe.genai import GenAI, provider_name
from bastion.observe.tracing import Tracer, build_tracer
from bastion.pricing import price_for
from bastion.providers.base import CallTimeouts, Provider
from bastion.resilience.breaker import BreakerBoard, BreakerConfig
from bastion.resilience.budget import RetryBudget
from bastion.resilience.retry import RetryPolicy
from bastion.routing import build_router
from bastion.routing.stats import TargetStats
from bastion.steps.billing import Unreported
from bastion.steps.route import AliasRoute, Route, Target

if TYPE_CHECKING:
    from bastion.app import Gateway


def retry_policy(s: RetrySettings, a: AliasResilience | None = None) -> RetryPolicy:
    """The global retry settings with the alias's overrides applied key by key."""
    o = a.retry if a is not None else None

    def pick(name: str) -> int:
        v = getattr(o, name, None) if o is not None else None
        return int(getattr(s, name) if v is None else v)

    return RetryPolicy.standard(
        max_attempts=pick("max_attempts"), base_s=pick("base_delay_ms") / 1000,
        cap_s=pick("max_delay_ms") / 1000, max_retry_after_s=pick("max_retry_after_ms") / 1000,
        attempts_before_fallback=pick("attempts_before_fallback"),
    )


def local_target(settings: Settings, alias: str, ref: str,
                 providers: Mapping[str, Provider]) -> Target:
    """The ``local_fallback`` target; it must name an ``openai_compatible`` provider."""
    provider, _, model = ref.partition("/")
    ps = settings.providers.get(provider)
    if ps is None or ps.type not in ("openai_compatible", "fake"):
        raise ValueError(f"models.{alias}.resilience.local_fallback: {ref!r} must name an "
                         "openai_compatible provider under providers")
    t = ps.timeout_ms or settings.models[alias].timeout_ms
    return Target(name=ref, provider=providers[provider], model=model,
                  price=price_for(model, None),
                  timeouts=CallTimeouts(t.connect / 1000, t.first_byte / 1000, t.total / 1000),
                  compliance=ps.compliance, system=provider_name(provider, ps.type))


def build_breakers(gw: Gateway) -> BreakerBoard:
    r = gw.settings.resilience
    cfg = BreakerConfig.from_settings(r.breaker)
    if gw.redis is None:
        return BreakerBoard(cfg, gw.metrics, r.breaker.enabled)
    from bastion.resilience.breaker_redis import RedisBreakerBoard

    return RedisBreakerBoard(cfg, gw.redis, gw.metrics, r.breaker.enabled, prefix=r.redis_prefix,
                             timeout_s=r.redis_timeout_ms / 1000)


def build_route(gw: Gateway, aliases: Mapping[str, AliasRoute],
                tracer: Tracer | None = None) -> Route:
    """The route for ``gw``: ``aliases`` (as ``bastion.app.build_aliases`` made them)
    with each alias's resilience settings applied."""
    settings = gw.settings
    r = settings.resilience
    out: dict[str, AliasRoute] = {}
    for name, base in aliases.items():
        a = settings.models[name].resilience
        idle = a.stream_idle_timeout_ms
        out[name] = replace(
            base, retry=retry_policy(r.retry, a), degrade=tuple(a.degrade),
            local=(local_target(settings, name, a.local_fallback, gw.providers)
                   if a.local_fallback else None),
            idle_timeout_s=idle / 1000 if idle else None,
        )
    # One board for every config generation with these breaker settings: a reload keeps
    # open breakers open (see bastion.generation).
    breakers = gw.lasting_part(
        ("breakers", r.breaker.model_dump_json(), r.redis_prefix, r.redis_timeout_ms),
        lambda: build_breakers(gw), BreakerBoard.aclose)
    return Route(
        out, gw.metrics, breakers=breakers,
        budget=RetryBudget(r.retry.budget_ratio, r.retry.budget_min_per_s),
        retry=retry_policy(r.retry), tracer=tracer or build_tracer(None, {}),
        idle_timeout_s=r.stream_idle_timeout_ms / 1000,
        genai=GenAI(gw.metrics, settings.telemetry.capture_content,
                    settings.telemetry.content_max_chars),
        unreported=Unreported(settings.traffic.default_output_tokens),
        # in-flight counts and latencies outlive a reload (old requests release into them)
        router=build_router(settings, gw.metrics, stats=gw.lasting_part(("routing.stats",),
                                                                        TargetStats)),
    )
