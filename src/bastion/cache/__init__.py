"""Response caching: exact match and opt-in semantic, scoped per tenant.

``build_steps(gw)`` resolves each chat alias's ``cache:`` settings once, opens the
configured store (memory, Redis through ``gw.redis``, or PostgreSQL), registers the
step as the route's stale-answer source, and returns the one cache step (or none
when every alias has caching off). See :mod:`bastion.cache.step` for the behaviour
and ``docs/caching.md`` for the operator's view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.cache.base import CacheBackend
from bastion.cache.key import alias_fingerprint
from bastion.cache.memory import MemoryBackend
from bastion.cache.step import AliasPolicy, CacheStep
from bastion.config.guard_settings import system_prompt_text
from bastion.core.pipeline import Step

if TYPE_CHECKING:
    from bastion.app import Gateway
    from bastion.cache.pg import PgPool
    from bastion.cache.semantic.embedder import Embedder
    from bastion.cache.semantic.lookup import SemanticLookup
    from bastion.cache.semantic.shadow import ShadowMetrics
    from bastion.cache.semantic.store import VectorStore
    from bastion.config.settings import AliasSettings, Settings

__all__ = ["AliasPolicy", "CacheStep", "build_steps"]


class CacheConfigError(ValueError):
    """The cache settings cannot work with the rest of the configuration."""


def _postgres_url(settings: Settings) -> str:
    url = settings.cache.postgres_url or settings.state.database
    if not url.startswith(("postgresql://", "postgres://")):
        raise CacheConfigError("cache: a postgres store needs cache.postgres_url "
                               "(or state.database set to a postgresql:// URL)")
    return url


class _Parts:
    """What build_steps opens, shared by all aliases and closed with the gateway."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.pool: PgPool | None = None
        self.store: VectorStore | None = None
        self.embedders: dict[str, Embedder] = {}
        self.metrics: ShadowMetrics | None = None

    def pg(self) -> PgPool:
        if self.pool is None:
            from bastion.cache.pg import PgPool

            cs = self.gw.settings.cache
            self.pool = PgPool(_postgres_url(self.gw.settings), cs.redis_timeout_ms / 1000 * 4)
            self.gw.on_close.append(self.pool.aclose)
        return self.pool

    def backend(self) -> CacheBackend:
        cs = self.gw.settings.cache
        if cs.backend == "redis":
            if self.gw.redis is None:
                raise CacheConfigError("cache.backend: redis needs state.redis to be set")
            from bastion.cache.redis_backend import RedisBackend

            return RedisBackend(self.gw.redis, cs.namespace, cs.redis_timeout_ms / 1000)
        if cs.backend == "postgres":
            from bastion.cache.postgres_backend import PostgresBackend

            return PostgresBackend(self.pg(), cs.namespace.replace(":", "_"))
        # Kept across config reloads (see bastion.generation); cleared when the last
        # generation using it closes.
        return self.gw.lasting_part(("cache.memory", cs.max_entries, cs.max_bytes),
                                    lambda: MemoryBackend(cs.max_entries, cs.max_bytes),
                                    MemoryBackend.aclose)

    def vectors(self) -> VectorStore:
        if self.store is None:
            cs = self.gw.settings.cache
            if cs.semantic_store == "postgres":
                from bastion.cache.semantic.pgvector import PgVectorStore

                self.store = PgVectorStore(self.pg(), cs.namespace.replace(":", "_"))
            else:
                from bastion.cache.semantic.store import MemoryVectorStore

                self.store = self.gw.lasting_part(  # kept across reloads, like the cache
                    ("cache.semantic.memory", cs.semantic_max_entries),
                    lambda: MemoryVectorStore(cs.semantic_max_entries), MemoryVectorStore.aclose)
        return self.store

    def embedder(self, spec: str) -> Embedder:
        found = self.embedders.get(spec)
        if found is not None:
            return found
        from bastion.cache.semantic.embedder import AliasEmbedder, LocalEmbedder

        made: Embedder
        if spec == "local":
            # One model per process, whatever the reloads (loading it takes seconds).
            made = self.gw.lasting_part(("cache.local_embedder",), LocalEmbedder,
                                        LocalEmbedder.aclose)
        else:
            alias = spec.removeprefix("alias:")
            target = self.gw.settings.models.get(alias)
            if target is None or target.kind != "embeddings":
                raise CacheConfigError(f"cache.semantic.embedder: {spec!r} must name an "
                                       "alias of kind embeddings under models")
            made = AliasEmbedder(alias, self.gw.route)
        self.embedders[spec] = made
        self.gw.on_start.append(made.start)
        if not isinstance(made, LocalEmbedder):  # the local model closes with its last user
            self.gw.on_close.append(made.aclose)
        return made

    def semantic(self, name: str, a: AliasSettings, fingerprint: bytes) -> SemanticLookup | None:
        sem = a.cache.semantic
        if sem is None or a.cache.high_stakes:
            return None  # a high-stakes alias is answered from the exact cache only
        from bastion.cache.semantic.lookup import SemanticLookup
        from bastion.cache.semantic.shadow import Shadow
        from bastion.cache.semantic.verifier import Verifier

        verifier = Verifier() if sem.guard else None
        threshold = verifier.threshold_for(sem.max_wrong_rate) if verifier else sem.threshold
        store = self.vectors()
        shadow = None
        if sem.shadow_rate > 0:
            shadow = Shadow(name, sem.shadow_rate, sem.max_wrong_rate, threshold, store,
                            on_result=self.semantic_metrics().observe)
            self.gw.on_close.append(shadow.aclose)
        return SemanticLookup(
            embedder=self.embedder(sem.embedder), embedder_id=sem.embedder, store=store,
            fingerprint=fingerprint, floor=sem.threshold, verifier=verifier,
            threshold=threshold, max_chars=sem.max_chars, shadow=shadow)

    def semantic_metrics(self) -> ShadowMetrics:
        if self.metrics is None:
            from bastion.cache.semantic.shadow import ShadowMetrics

            registry = self.gw.metrics.registry  # one set per process: reloads share it
            self.metrics = self.gw.lasting_part(("cache.shadow_metrics",),
                                                lambda: ShadowMetrics(registry))
        return self.metrics


def build_steps(gw: Gateway) -> list[Step]:
    """The cache step for ``gw``'s settings (placed just before route), or none."""
    parts = _Parts(gw)
    policies: dict[str, AliasPolicy] = {}
    for name, a in gw.settings.models.items():
        c = a.cache
        if a.kind != "chat" or c.enabled == "off":
            continue
        fp = alias_fingerprint(name, [t.target for t in a.targets], system_prompt_text(
            a.system_prompt, gw.settings.guards.system_prompts))
        policies[name] = AliasPolicy(enabled=c.enabled, ttl_s=c.ttl_s,
                                     stale_ttl_s=c.stale_ttl_s, scope=c.scope,
                                     fingerprint=fp, semantic=parts.semantic(name, a, fp))
    if not policies:
        return []
    backend = parts.backend()
    if not isinstance(backend, MemoryBackend):  # the memory backend closes with its last user
        gw.on_close.append(backend.aclose)
    if parts.store is not None and gw.settings.cache.semantic_store != "memory":
        gw.on_close.append(parts.store.aclose)  # the memory store closes with its last user
    step = CacheStep(policies, backend, gw.settings.cache.max_entry_bytes)
    add_source = getattr(gw.route, "add_stale_source", None)
    if callable(add_source):
        add_source(step)
    return [step]
