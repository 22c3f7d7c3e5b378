"""cache → lookup (exact, then opt-in semantic), scoped per tenant;  ← store.

Sits just before route and inside privacy and moderation, so what it stores and
serves holds pseudonym stand-ins, never personal data, and was already judged.

When it applies (per alias ``models.X.cache.enabled``, per request header
``x-bastion-cache: on|off|refresh``):

* ``auto`` (default): deterministic requests only (temperature 0 or a seed);
  ``x-bastion-cache: on`` opts a request in, ``off`` out.
* ``on``: every request unless the header says ``off``; ``off``: never.
* ``refresh``: skip the lookup, call the provider, store the new answer.

A hit answers without calling the provider: ``x-bastion-cache: hit``,
``ctx.decisions["cache"] = "hit"`` (the contract other steps read: a hit costs no
budget and no provider capacity), ``ctx.cost_usd = 0`` and ``ctx.usage = None`` (the
body keeps the original ``usage``, for information). A streaming request is answered
with the cached answer replayed as a stream. A miss is marked
``x-bastion-cache: miss``; an answer is stored only when it is whole and clean: no
error, no refusal (``content_filter`` or ``message.refusal``), not degraded, every
choice finished, and a stream only once it ended normally.

An expired entry still inside ``stale_ttl_s`` is left for the route as a stale
answer (stale-if-error, see :mod:`bastion.resilience.fallback`), and the step is also
a ``StaleSource`` (:meth:`CacheStep.stale_answer`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Literal

from bastion.api.replay import replay_as_stream
from bastion.cache.assemble import StreamAssembler
from bastion.cache.base import CacheBackend, Entry, decode_entry, encode_entry
from bastion.cache.key import (
    answer_shaping,
    cache_key,
    canonical_bytes,
    is_deterministic,
    tenant_scope,
)
from bastion.cache.semantic.lookup import SemanticLookup, SemanticProbe
from bastion.config.cache_settings import CacheScope
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import InvalidRequest
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk, ChatRequest, ChatResponse

HEADER = "x-bastion-cache"
STATE_KEY = "cache_key"
STALE_STATE_KEY = "stale"  # bastion.resilience.fallback.STALE_STATE_KEY
Mode = Literal["on", "off", "refresh"] | None
_MODES: dict[str, Mode] = {"on": "on", "off": "off", "refresh": "refresh"}


@dataclass(slots=True, frozen=True)
class AliasPolicy:
    """One alias's cache settings, resolved once at build time."""

    enabled: Literal["auto", "on", "off"]
    ttl_s: float
    stale_ttl_s: float
    scope: CacheScope
    fingerprint: bytes
    semantic: SemanticLookup | None = None


def request_mode(headers: Mapping[str, str]) -> Mode:
    raw = headers.get(HEADER)
    if raw is None:
        return None
    mode = _MODES.get(raw.strip().lower())
    if mode is None:
        raise InvalidRequest(f"The {HEADER} header takes on, off or refresh.", param=HEADER)
    return mode


def applies(policy: AliasPolicy, mode: Mode, ctx: Context) -> bool:
    if policy.enabled == "off" or mode == "off":
        return False
    if mode is not None or policy.enabled == "on":
        return True
    return is_deterministic(ctx.chat)


def cacheable(resp: ChatResponse) -> bool:
    """Whole, clean answers only: every choice finished, no refusal, no filter stop."""
    if not resp.choices:
        return False
    for c in resp.choices:
        if c.finish_reason is None or c.finish_reason == "content_filter":
            return False
        if c.message.refusal:
            return False
    return True


def _exact_key(scope: str, fingerprint: bytes, req: ChatRequest, shaping: bytes) -> str:
    return cache_key(scope, fingerprint, canonical_bytes(req, shaping))


def _degraded(ctx: Context, reply: Reply) -> bool:
    return bool(ctx.decisions.get("degraded")) or "x-bastion-degraded" in reply.headers


class CacheStep:
    """The step (see the module docstring). ``policies`` holds only chat aliases."""

    def __init__(self, policies: dict[str, AliasPolicy], backend: CacheBackend,
                 max_entry_bytes: int) -> None:
        self.policies = policies
        self.backend = backend
        self.max_entry_bytes = max_entry_bytes

    async def key_for(self, ctx: Context, policy: AliasPolicy) -> str:
        """The exact-match key: encoding and hashing scan the whole request, so they run
        where its size says (:mod:`bastion.core.offload`)."""
        scope = tenant_scope(ctx.identity, policy.scope)
        return await run_bounded(ctx.body_bytes, _exact_key, scope, policy.fingerprint,
                                 ctx.chat, answer_shaping(ctx))

    async def load(self, key: str) -> Entry | None:
        data = await self.backend.get(key)
        return decode_entry(data) if data is not None else None

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        policy = self.policies.get(ctx.alias)
        if policy is None or ctx.kind != "chat":
            return await call_next(ctx)
        mode = request_mode(ctx.headers)
        if not applies(policy, mode, ctx):
            return await call_next(ctx)
        key = await self.key_for(ctx, policy)
        ctx.state[STATE_KEY] = key
        probe: SemanticProbe | None = None
        if mode != "refresh":
            entry = await self.load(key)
            if entry is not None:
                if entry.fresh():
                    return self._hit(ctx, entry.response)
                ctx.state[STALE_STATE_KEY] = entry.response
        if policy.semantic is not None:
            probe = await policy.semantic.probe(ctx, tenant_scope(ctx.identity, policy.scope),
                                                lookup=mode != "refresh")
            hit = await self._semantic_hit(ctx, policy.semantic, probe, call_next)
            if hit is not None:
                return hit
        ctx.decisions["cache"] = "refresh" if mode == "refresh" else "miss"
        return await self._on_the_way_back(ctx, key, policy, probe, await call_next(ctx))

    async def _semantic_hit(self, ctx: Context, lookup: SemanticLookup,
                            probe: SemanticProbe | None, call_next: Next) -> Reply | None:
        if probe is None or probe.match is None:
            return None
        match = probe.match
        entry = await self.load(match.candidate.entry_key)
        if entry is None or not entry.fresh():
            return None
        ctx.decisions["cache_kind"] = "semantic"
        ctx.decisions["cache_similarity"] = round(match.candidate.similarity, 4)
        ctx.decisions["cache_verifier"] = match.reason
        ctx.decisions["cache_verifier_score"] = round(match.score, 4)
        shadow = lookup.shadow
        if shadow is not None and shadow.wanted():
            ctx.decisions["cache_shadow"] = True
            shadow.start(ctx, call_next, probe.partition, match.candidate.entry_key,
                         match.score, match.candidate.threshold, entry.response)
        return self._hit(ctx, entry.response)

    async def _on_the_way_back(self, ctx: Context, key: str, policy: AliasPolicy,
                               probe: SemanticProbe | None, reply: Reply) -> Reply:
        if ctx.decisions.get("degraded") == "cache":
            reply.headers[HEADER] = "stale"
            return reply
        reply.headers[HEADER] = "miss"
        if _degraded(ctx, reply):
            return reply
        if reply.stream is not None:
            return reply.map_stream(lambda s: self._record(ctx, key, policy, probe, s))
        if isinstance(reply.response, ChatResponse):
            await self._store(key, policy, probe, reply.response)
        return reply

    def _hit(self, ctx: Context, resp: ChatResponse) -> Reply:
        ctx.decisions["cache"] = "hit"
        ctx.cost_usd = 0.0
        ctx.usage = None
        headers = {HEADER: "hit"}
        if ctx.stream:
            return Reply(stream=replay_as_stream(resp), headers=headers)
        return Reply(response=resp, headers=headers)

    async def _store(self, key: str, policy: AliasPolicy, probe: SemanticProbe | None,
                     resp: ChatResponse) -> None:
        if not cacheable(resp):
            return
        now = time.time()
        data = encode_entry(Entry(resp, now, now + policy.ttl_s))
        if len(data) > self.max_entry_bytes:
            return
        await self.backend.set(key, data, policy.ttl_s + policy.stale_ttl_s)
        if probe is not None and policy.semantic is not None:
            await policy.semantic.remember(probe, key, policy.ttl_s)

    async def _record(self, ctx: Context, key: str, policy: AliasPolicy,
                      probe: SemanticProbe | None, stream: ChunkStream
                      ) -> AsyncIterator[ChatChunk]:
        """Pass the stream through; store it only if it reaches its end normally."""
        asm = StreamAssembler(self.max_entry_bytes)
        async for chunk in stream:
            asm.add(chunk)
            yield chunk
        resp = asm.result()
        if resp is not None and not ctx.decisions.get("degraded"):
            await self._store(key, policy, probe, resp)

    async def stale_answer(self, ctx: Context) -> ChatResponse | None:
        """The kept (fresh or expired) answer for ``ctx``, for stale-if-error; never raises."""
        policy = self.policies.get(ctx.alias)
        if policy is None or ctx.kind != "chat" or policy.enabled == "off":
            return None
        try:
            if request_mode(ctx.headers) == "off":
                return None
        except InvalidRequest:
            return None
        key = ctx.state.get(STATE_KEY)
        if not isinstance(key, str):
            key = await self.key_for(ctx, policy)
        entry = await self.load(key)
        return entry.response if entry is not None else None
