"""route → (the terminal step): alias → ordered targets → a provider adapter.

Tries the alias's targets in order. A failure before the first byte moves on
to the next target; a provider's refusal of the request itself (a 4xx other
than 401/403/408/429) does not, since every target would refuse it alike. When
every target failed the alias's degraded answer is served (a static message,
marked ``x-bastion-degraded: static``), else ``upstream_unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from bastion.config.settings import Compliance, Price
from bastion.core.context import Context, Reply
from bastion.core.errors import (
    ModelNotFound,
    ProviderBadRequest,
    ProviderError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingRequest,
    Message,
    Usage,
)
from bastion.observe.logging import get_logger
from bastion.observe.metrics import Metrics
from bastion.pricing import cost_usd
from bastion.providers.base import Call, CallTimeouts, Provider

_log = get_logger("bastion.upstream")


@dataclass(slots=True, frozen=True)
class Target:
    name: str  # "provider/model"
    provider: Provider
    model: str
    price: Price
    timeouts: CallTimeouts
    compliance: Compliance = field(default_factory=Compliance)


@dataclass(slots=True, frozen=True)
class AliasRoute:
    name: str
    targets: tuple[Target, ...]
    kind: str = "chat"
    total_timeout_s: float = 120.0
    fallback_message: str | None = None


def settle_usage(ctx: Context, target: Target, usage: Usage | None) -> None:
    if usage is None:
        return
    ctx.usage = usage
    ctx.cost_usd = cost_usd(target.price, usage.prompt_tokens, usage.completion_tokens)


def upstream_failure(ctx: Context, target: Target, err: ProviderError, metrics: Metrics) -> None:
    """One log line and one metric per failed upstream attempt. No prompt, no key."""
    provider = target.name.split("/", 1)[0]
    metrics.upstream_failures.labels(provider, target.name, type(err).__name__).inc()
    req = ctx.request
    size = len(req.messages) if isinstance(req, ChatRequest) else len(req.texts())
    _log.warning(
        "upstream_failure", request_id=ctx.request_id, provider=provider, target=target.name,
        error=type(err).__name__, provider_status=err.provider_status,
        retry_after_s=err.retry_after_s, endpoint=ctx.kind, stream=ctx.stream,
        payload={"items": size}, ts=time.time(),
    )


def static_reply(ctx: Context, message: str) -> Reply:
    """A degraded answer with the configured message."""
    ctx.decisions["degraded"] = "static"
    resp = ChatResponse(
        id=f"chatcmpl-degraded-{ctx.request_id}", model=ctx.alias, created=int(time.time()),
        choices=[Choice(message=Message(role="assistant", content=message),
                        finish_reason="stop")],
        usage=Usage(),
    )
    headers = {"x-bastion-degraded": "static"}
    if not ctx.stream:
        return Reply(response=resp, headers=headers)
    from bastion.api.replay import replay_as_stream

    return Reply(stream=replay_as_stream(resp), headers=headers)


class Route:
    """The terminal handler: ``await route(ctx)``."""

    def __init__(self, aliases: dict[str, AliasRoute], metrics: Metrics) -> None:
        self.aliases = aliases
        self.metrics = metrics

    def alias(self, name: str) -> AliasRoute:
        route = self.aliases.get(name)
        if route is None:
            raise ModelNotFound(f"The model {name!r} is not configured on this gateway.")
        return route

    async def __call__(self, ctx: Context) -> Reply:
        route = self.alias(ctx.alias)
        if ctx.deadline is None:
            ctx.deadline = ctx.started + route.total_timeout_s
        last: ProviderError | None = None
        for i, target in enumerate(route.targets):
            remaining = ctx.remaining_s()
            if remaining is not None and remaining <= 0:
                break
            t = target.timeouts
            if remaining is not None:
                t = CallTimeouts(t.connect, min(t.first_byte, remaining), min(t.total, remaining))
            call = Call(model=target.model, timeouts=t, request_id=ctx.request_id)
            try:
                reply = await self._attempt(ctx, target, call)
            except ProviderBadRequest as e:
                raise UpstreamRejected(e.message) from None
            except ProviderError as e:
                upstream_failure(ctx, target, e, self.metrics)
                last = e
                continue
            ctx.target = target.name
            if i > 0:
                ctx.decisions["fallback"] = i
                self.metrics.fallbacks.labels(route.name).inc()
            return reply
        if route.fallback_message and ctx.kind == "chat":
            self.metrics.degraded.labels(route.name, "static").inc()
            return static_reply(ctx, route.fallback_message)
        wait = last.retry_after_s if last is not None and last.retry_after_s else 30.0
        raise UpstreamUnavailable(retry_after_s=wait)

    async def _attempt(self, ctx: Context, target: Target, call: Call) -> Reply:
        req = ctx.request
        if isinstance(req, EmbeddingRequest):
            emb = await target.provider.embed(req, call)
            if emb.usage is not None:
                settle_usage(ctx, target, Usage(prompt_tokens=emb.usage.prompt_tokens,
                                                total_tokens=emb.usage.total_tokens))
            return Reply(response=emb)
        if not req.stream:
            resp = await target.provider.complete(req, call)
            settle_usage(ctx, target, resp.usage)
            return Reply(response=resp)
        stream = target.provider.stream(req, call)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            await stream.aclose()
            raise ProviderError("The AI provider sent an empty stream.") from None
        except BaseException:
            await stream.aclose()
            raise
        return Reply(stream=self._relay(ctx, target, first, stream))

    async def _relay(
        self, ctx: Context, target: Target, first: ChatChunk,
        rest: AsyncGenerator[ChatChunk, None],
    ) -> AsyncIterator[ChatChunk]:
        """The stream after its first chunk: usage is settled, late failures become
        gateway errors (the front door ends the stream with an error event)."""
        try:
            settle_usage(ctx, target, first.usage)
            yield first
            async for chunk in rest:
                if chunk.usage is not None:
                    settle_usage(ctx, target, chunk.usage)
                yield chunk
        except ProviderError as e:
            upstream_failure(ctx, target, e, self.metrics)
            ctx.decisions["stream_broken"] = True
            raise UpstreamUnavailable(
                "The AI service stopped answering part-way through. Please try again.",
                retry_after_s=e.retry_after_s or 5.0,
            ) from None
        finally:
            await rest.aclose()


