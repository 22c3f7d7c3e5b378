"""route → (the terminal step): alias → ordered targets → a provider adapter.

For each request, within its deadline (``ctx.deadline``, by default the alias's
total time-out, which bounds retries and fallbacks together):

1. The alias's targets that may receive the request
   (:data:`~bastion.resilience.fallback.CompliancePredicate`; none left:
   ``no_compliant_provider``) and can serve it (capabilities), in the order of the
   alias's routing strategy (:mod:`bastion.routing`), minus those whose circuit
   breaker is open. A strategy that spills (``headroom``) goes on to the next
   target when this one's capacity is full instead of waiting for it.
2. Each target is tried; a retryable failure (429, 5xx, connection, time-out) is
   retried on the same target with backoff and jitter, honouring ``Retry-After``,
   when the retry policy, the retry budget and the deadline allow it (see
   :mod:`bastion.resilience.retry`); otherwise the next target is tried. A
   provider's refusal of the request itself (a 4xx other than 401/403/408/429)
   ends the request with ``upstream_rejected``: every target would refuse it alike.
3. When every target failed, the alias's degraded answers in order
   (``models.X.resilience.degrade``): a stale cached answer, a local model, the
   static ``fallback_message``, each marked ``x-bastion-degraded``; else
   ``upstream_unavailable`` (503, ``Retry-After``).

A stream is primed: the first chunk is read before the reply returns, so a failure
before the first byte falls back transparently; after it, a failure or a stall
longer than the idle time-out ends the stream with an error event. Each failed
attempt is one ``upstream_failure`` log line (no prompt text, no key) and a metric.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from bastion.config.settings import Compliance, Price
from bastion.core.context import Context, Reply
from bastion.core.errors import (
    InvalidRequest,
    ModelNotFound,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderStreamBroken,
    ProviderTimeout,
    RateLimited,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bastion.core.types import ChatChunk, ChatRequest, EmbeddingRequest, Usage
from bastion.observe.genai import GenAI, Observed
from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics
from bastion.observe.tracing import NoopTracer, Tracer
from bastion.pricing import cost_usd
from bastion.providers.base import Call, CallTimeouts, Provider
from bastion.resilience.breaker import BreakerBoard, BreakerConfig
from bastion.resilience.budget import RetryBudget
from bastion.resilience.fallback import (
    DEGRADED_HEADER,
    CompliancePredicate,
    StaleSource,
    default_compliance,
    degraded_reply,
    find_stale,
    static_response,
)
from bastion.resilience.retry import Attempt, RetryPolicy
from bastion.resilience.stall import StallWatch
from bastion.routing import SPILL_STATE, Router
from bastion.routing.stats import Lease
from bastion.steps.billing import UPSTREAM, Unreported, chunk_chars, response_chars, text_tokens


def _log() -> Any:
    """A logger per event (events here are rare: failures, retries, state changes), so
    a reconfigured structlog (tests, the demo) takes effect at once."""
    return get_logger("bastion.upstream")
DEFAULT_DEGRADE = ("cache", "local", "static")


@dataclass(slots=True, frozen=True)
class Target:
    name: str  # "provider/model"
    provider: Provider
    model: str
    price: Price
    timeouts: CallTimeouts
    compliance: Compliance = field(default_factory=Compliance)
    system: str = ""  # gen_ai.provider.name (aws.bedrock, openai, …); see observe/genai.py


@dataclass(slots=True, frozen=True)
class AliasRoute:
    name: str
    targets: tuple[Target, ...]
    kind: str = "chat"
    total_timeout_s: float = 120.0
    fallback_message: str | None = None
    retry: RetryPolicy | None = None  # None: the route's policy
    degrade: tuple[str, ...] = DEFAULT_DEGRADE
    local: Target | None = None  # models.X.resilience.local_fallback
    idle_timeout_s: float | None = None  # None: the route's


def settle_usage(ctx: Context, target: Target, usage: Usage | None) -> None:
    if usage is None:
        return
    ctx.usage = usage
    ctx.cost_usd = cost_usd(target.price, usage.prompt_tokens, usage.completion_tokens)


def upstream_failure(ctx: Context, target: Target, err: ProviderError, metrics: Metrics,
                     attempt: int = 1) -> None:
    """One log line and one metric per failed upstream attempt. No prompt, no key:
    the payload is summarised as counts and sizes."""
    provider = target.name.split("/", 1)[0]
    metrics.upstream_failures.labels(provider, target.name, type(err).__name__).inc()
    req = ctx.request
    if isinstance(req, ChatRequest):
        items, chars = len(req.messages), sum(len(m.text()) for m in req.messages)
    else:
        texts = req.texts()
        items, chars = len(texts), sum(len(t) for t in texts)
    _log().warning(
        "upstream_failure", request_id=ctx.request_id, provider=provider, target=target.name,
        error=type(err).__name__, provider_status=err.provider_status,
        retry_after_s=err.retry_after_s, endpoint=ctx.kind, stream=ctx.stream,
        attempt=attempt, payload={"items": items, "chars": chars}, ts=time.time(),
    )


def static_reply(ctx: Context, message: str) -> Reply:
    """A degraded answer with the configured message (a template: ``{alias}``)."""
    return degraded_reply(ctx, static_response(ctx, message), "static")


class Route:
    """The terminal handler: ``await route(ctx)`` (see the module docstring)."""

    def __init__(
        self, aliases: dict[str, AliasRoute], metrics: Metrics, *,
        breakers: BreakerBoard | None = None, budget: RetryBudget | None = None,
        retry: RetryPolicy | None = None, tracer: Tracer | None = None,
        idle_timeout_s: float = 30.0, compliance: CompliancePredicate = default_compliance,
        genai: GenAI | None = None,
        unreported: Unreported | None = None, router: Router | None = None,
    ) -> None:
        self.aliases = aliases
        self.metrics = metrics
        self.genai = genai or GenAI(metrics)
        self.breakers = breakers or BreakerBoard(BreakerConfig(), metrics)
        self.budget = budget or RetryBudget()
        self.retry = retry or RetryPolicy.standard()
        self.tracer: Tracer = tracer or NoopTracer()
        self.idle_timeout_s = idle_timeout_s
        self.compliance = compliance
        self.unreported = unreported or Unreported()
        self.router = router or Router()
        self.stale_sources: list[StaleSource] = []
        self._latency_children: dict[str, Any] = {}
        # Provider-capacity admission per attempt, set by bastion.traffic when it is on:
        # ``async with capacity(ctx, target_name)`` holds the target's RPM/TPM share.
        self.capacity: Callable[[Context, str], AbstractAsyncContextManager[None]] | None = None

    def _ok_latency(self, target: str) -> Any:
        """The latency histogram's child for ``target`` (one per configured target)."""
        child = self._latency_children.get(target)
        if child is None:
            child = self._latency_children[target] = self.metrics.upstream_latency.labels(
                target, "ok")
        return child

    def add_stale_source(self, source: StaleSource) -> None:
        """Register a stale-answer source (see :mod:`bastion.resilience.fallback`)."""
        self.stale_sources.append(source)

    def alias(self, name: str) -> AliasRoute:
        route = self.aliases.get(name)
        if route is None:
            raise ModelNotFound(f"The model {name!r} is not configured on this gateway.")
        return route

    async def __call__(self, ctx: Context) -> Reply:
        route = self.alias(ctx.alias)
        if route.kind != ctx.kind:
            what = "embeddings" if route.kind == "embeddings" else "chat completions"
            raise InvalidRequest(f"The model {ctx.alias!r} serves {what}; use a "
                                 f"{'chat' if ctx.kind == 'chat' else 'embeddings'} model "
                                 "for this endpoint.", param="model")
        if ctx.deadline is None:
            ctx.deadline = ctx.started + route.total_timeout_s
        plan = await self.router.plan(ctx, route, self.compliance)
        targets = plan.targets
        last: ProviderError | None = None
        for i, target in enumerate(targets):
            if not await self.breakers.allow(target.name):
                self.metrics.breaker_rejections.labels(target.name).inc()
                ctx.decisions.setdefault("breaker_open", []).append(target.name)
                continue
            last_target = not any(self.breakers.would_allow(t.name) for t in targets[i + 1:])
            spill = plan.spill and not last_target
            if plan.spill:
                ctx.state[SPILL_STATE] = spill
            try:
                reply = await self._try_target(ctx, route, target, last_target)
            except ProviderError as e:
                last = e
                continue
            except RateLimited:  # no capacity free on this target now
                if not spill:
                    raise
                ctx.decisions.setdefault("spilled", []).append(target.name)
                continue
            finally:
                ctx.state.pop(SPILL_STATE, None)
            if i > 0:
                ctx.decisions["fallback"] = i
                self.metrics.fallbacks.labels(route.name).inc()
            return reply
        return await self._degrade(ctx, route, last)

    def _call(self, ctx: Context, target: Target) -> Call:
        t = target.timeouts
        remaining = ctx.remaining_s()
        if remaining is not None:
            if remaining <= 0:
                raise ProviderTimeout("The request's deadline passed.")
            t = CallTimeouts(min(t.connect, remaining), min(t.first_byte, remaining),
                             min(t.total, remaining))
        return Call(model=target.model, timeouts=t, request_id=ctx.request_id)

    async def _try_target(self, ctx: Context, route: AliasRoute, target: Target,
                          last_target: bool) -> Reply:
        """Attempts on one target (the first one already admitted by its breaker)."""
        policy = route.retry or self.retry
        self.budget.deposit()
        number = 0
        while True:
            number += 1
            started = time.monotonic()
            try:
                reply = await self._traced_attempt(ctx, route, target, number)
            except ProviderBadRequest as e:
                raise UpstreamRejected(e.message) from None
            except ProviderError as e:
                self.metrics.upstream_latency.labels(target.name, "error").observe(
                    time.monotonic() - started)
                upstream_failure(ctx, target, e, self.metrics, number)
                ctx.decisions.setdefault("failed", []).append(
                    {"target": target.name, "error": type(e).__name__})
                await self._breaker_failure(target, e)
                delay = policy.delay(Attempt(number, e, ctx.remaining_s()), last_target)
                if delay is None:
                    raise
                if not self.budget.try_spend():
                    self.metrics.retry_budget_exhausted.labels(target.name).inc()
                    ctx.decisions["retry_budget_exhausted"] = True
                    raise
                self._log_retry(ctx, target, number, delay, e)
                await asyncio.sleep(delay)
                if not await self.breakers.allow(target.name):
                    raise
                continue
            elapsed = time.monotonic() - started
            self._ok_latency(target.name).observe(elapsed)
            self.router.stats.observe(target.name, elapsed)
            await self.breakers.success(target.name)
            ctx.target = target.name
            return reply

    async def _breaker_failure(self, target: Target, e: ProviderError) -> None:
        if not e.provider_fault:
            return  # a full pool on this side says nothing about the provider's health
        open_for = (e.retry_after_s if isinstance(e, ProviderRateLimited) and e.retry_after_s
                    else None)
        await self.breakers.failure(target.name, open_for)

    def _log_retry(self, ctx: Context, target: Target, number: int, delay: float,
                   e: ProviderError) -> None:
        ctx.decisions["retries"] = ctx.decisions.get("retries", 0) + 1
        self.metrics.retries.labels(target.name).inc()
        _log().info("upstream_retry", request_id=ctx.request_id, target=target.name,
                  attempt=number + 1, delay_s=round(delay, 3), error=type(e).__name__)

    async def _traced_attempt(self, ctx: Context, route: AliasRoute, target: Target,
                              number: int) -> Reply:
        call = self._call(ctx, target)
        if self.capacity is not None:
            async with self.capacity(ctx, target.name):
                return await self._traced(ctx, route, target, call, number)
        return await self._traced(ctx, route, target, call, number)

    async def _traced(self, ctx: Context, route: AliasRoute, target: Target, call: Call,
                      number: int) -> Reply:
        """One attempt, observed as the GenAI conventions describe it (observe/genai.py)."""
        op = "embeddings" if ctx.kind == "embeddings" else "chat"
        system = target.system or target.name.split("/", 1)[0]
        span = None
        if self.tracer.enabled:
            attrs: dict[str, Any] = {
                "bastion.target": target.name, "bastion.attempt": number,
                "bastion.request_id": ctx.request_id, "bastion.stream": ctx.stream,
                **self.genai.request_attrs(ctx.request, op, system, target.model)}
            routing = ctx.decisions.get("routing")
            if routing is not None:
                attrs["bastion.routing.strategy"] = routing["strategy"]
                attrs["bastion.routing.why"] = routing["why"]
            span = self.tracer.client_span(f"{op} {target.model}", attrs)
        obs = Observed(self.genai, (op, system, target.model), span)
        try:
            return await self._attempt(ctx, route, target, call, obs)
        except BaseException as e:
            obs.end(None, None, error=e)
            raise

    async def _attempt(self, ctx: Context, route: AliasRoute, target: Target,
                       call: Call, obs: Observed) -> Reply:
        """One call, counted in flight on ``target`` until its answer (or stream) ends."""
        lease = self.router.stats.lease(target.name)
        try:
            reply = await self._answer(ctx, route, target, call, lease, obs)
        except BaseException:
            lease.release()
            raise
        if reply.stream is None:
            lease.release()
        return reply

    async def _answer(self, ctx: Context, route: AliasRoute, target: Target, call: Call,
                      lease: Lease, obs: Observed) -> Reply:
        req = ctx.request
        ctx.state[UPSTREAM] = target
        stream_req = isinstance(req, ChatRequest) and bool(req.stream)
        try:
            if isinstance(req, EmbeddingRequest):
                emb = await target.provider.embed(req, call)
                settle_usage(ctx, target, Usage(prompt_tokens=emb.usage.prompt_tokens,
                                                total_tokens=emb.usage.total_tokens))
                obs.end(emb.usage.prompt_tokens, None, emb)
                return Reply(response=emb)
            if not stream_req:
                resp = await target.provider.complete(req, call)
                if resp.usage is None:
                    self.unreported.charge(ctx, target, text_tokens(response_chars(resp)),
                                           "estimated")
                else:
                    settle_usage(ctx, target, resp.usage)
                obs.end_with(resp.usage, resp)
                return Reply(response=resp)
        except asyncio.CancelledError:
            self.unreported.abandoned(ctx, target, stream=False)  # the provider is working
            raise
        stream = target.provider.stream(req, call)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            await stream.aclose()
            raise ProviderStreamBroken("The AI provider sent an empty stream.") from None
        except BaseException as e:
            await stream.aclose()
            if isinstance(e, asyncio.CancelledError):
                self.unreported.abandoned(ctx, target, stream=True)
            raise
        if obs.span is not None:
            obs.chunk(first)
        else:
            obs.first_chunk()
        idle = route.idle_timeout_s or self.idle_timeout_s
        return Reply(stream=self._relay(ctx, target, first, stream, idle, lease, obs))

    async def _relay(
        self, ctx: Context, target: Target, first: ChatChunk,
        rest: AsyncGenerator[ChatChunk, None], idle_s: float, lease: Lease, obs: Observed,
    ) -> AsyncIterator[ChatChunk]:
        """The stream after its first chunk: usage is settled; a stall longer than
        ``idle_s``, the request's deadline or a late failure becomes a gateway error (the
        front door ends the stream with an error event in the client's dialect)."""
        watch: StallWatch | None = None
        failure: BaseException | None = None
        noting = obs.span is not None
        chars = 0  # text delivered, to charge a stream whose usage never comes
        complete = False
        try:
            settle_usage(ctx, target, first.usage)
            chars += chunk_chars(first)
            yield first
            deadline = ctx.deadline
            if deadline is not None and deadline <= time.monotonic():
                raise ProviderTimeout("The request's deadline passed mid-stream.")
            watch = StallWatch(idle_s, deadline)
            while True:
                watch.begin()
                try:
                    chunk = await anext(rest)
                except StopAsyncIteration:
                    complete = True
                    return
                except asyncio.CancelledError:
                    if not watch.stalled:
                        raise
                    watch.consume_cancel()
                    raise ProviderTimeout("The AI provider's stream stalled.") from None
                watch.end()
                if chunk.usage is not None:
                    settle_usage(ctx, target, chunk.usage)
                if chunk.choices:
                    chars += chunk_chars(chunk)
                if noting:
                    obs.chunk(chunk)
                yield chunk
        except ProviderError as e:
            failure = e
            upstream_failure(ctx, target, e, self.metrics)
            reason = "stalled" if isinstance(e, ProviderTimeout) else type(e).__name__
            self.metrics.stream_breaks.labels(target.name, reason).inc()
            ctx.decisions["stream_broken"] = reason
            await self.breakers.failure(target.name)
            raise UpstreamUnavailable(
                "The AI service stopped answering part-way through. Please try again.",
                retry_after_s=e.retry_after_s or 5.0,
            ) from None
        finally:
            lease.release()
            if watch is not None:
                watch.close()
            self.unreported.stream_ended(ctx, target, chars, complete)
            obs.end_with(ctx.usage, error=failure)
            await rest.aclose()

    async def _degrade(self, ctx: Context, route: AliasRoute,
                       last: ProviderError | None) -> Reply:
        """The alias's degraded answers in order, else ``upstream_unavailable``."""
        if ctx.kind == "chat":
            for mode in route.degrade:
                reply = await self._degraded(ctx, route, mode)
                if reply is not None:
                    self.metrics.degraded.labels(route.name, mode).inc()
                    return reply
        raise UpstreamUnavailable(retry_after_s=self._retry_hint(route, last))

    async def _degraded(self, ctx: Context, route: AliasRoute, mode: str) -> Reply | None:
        if mode == "static":
            return static_reply(ctx, route.fallback_message) if route.fallback_message else None
        if mode == "cache":
            return await self._stale(ctx)
        if mode == "local" and route.local is not None:
            return await self._local(ctx, route, route.local)
        return None

    async def _stale(self, ctx: Context) -> Reply | None:
        """A stale cached answer, looked up within the request's deadline (at most 1 s)."""
        remaining = ctx.remaining_s()
        wait = 1.0 if remaining is None else min(1.0, remaining)
        if wait <= 0:
            return None
        try:
            async with asyncio.timeout(wait):
                resp = await find_stale(ctx, self.stale_sources)
        except TimeoutError:
            return None
        return None if resp is None else degraded_reply(ctx, resp, "cache")

    async def _local(self, ctx: Context, route: AliasRoute, local: Target) -> Reply | None:
        """One attempt at the alias's local model, under its own breaker."""
        if not self.compliance(ctx, local) or not await self.breakers.allow(local.name):
            return None
        try:
            reply = await self._try_target(ctx, route, local, last_target=False)
        except ProviderError:
            return None
        ctx.decisions["degraded"] = "local"
        reply.headers[DEGRADED_HEADER] = "local"
        return reply

    def _retry_hint(self, route: AliasRoute, last: ProviderError | None) -> float:
        """When to try again: the provider's advice, else the soonest breaker re-test."""
        if last is not None and last.retry_after_s:
            return last.retry_after_s
        waits = [s["open_for_s"] for s in (self.breakers.get(t.name).snapshot()
                                            for t in route.targets) if s["open_for_s"] > 0]
        return min(waits) if waits else 5.0
