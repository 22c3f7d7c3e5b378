"""The semantic half of the cache step: embed the last user message, find a neighbour.

A :class:`SemanticProbe` carries what one request computed (partition, vector,
guard signature, and the match if any) from the lookup on the way down to the
store on the way back, so a miss embeds its prompt once.
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.cache.key import answer_shaping, semantic_partition
from bastion.cache.semantic.embedder import Embedder, EmbedFailed
from bastion.cache.semantic.guard import signature
from bastion.cache.semantic.store import Match, VectorStore
from bastion.core.context import Context
from bastion.core.offload import run_bounded


@dataclass(slots=True)
class SemanticProbe:
    partition: str
    vector: list[float]
    sig: str
    match: Match | None = None


@dataclass(slots=True, frozen=True)
class SemanticLookup:
    """One alias's semantic settings with its embedder and the shared vector store."""

    embedder: Embedder
    embedder_id: str
    store: VectorStore
    fingerprint: bytes
    threshold: float
    guard: bool
    max_chars: int

    async def probe(self, ctx: Context, scope: str, lookup: bool = True) -> SemanticProbe | None:
        """Embed the request's last user message and (if ``lookup``) find its nearest
        cached neighbour; ``None`` when the request has no plain-text user message,
        the message is too long, or no embedding could be had (all semantic misses)."""
        part = await run_bounded(ctx.body_bytes, semantic_partition,
                                 self.embedder_id + "|" + scope, self.fingerprint, ctx.chat,
                                 answer_shaping(ctx))
        if part is None or len(part[1]) > self.max_chars or not part[1].strip():
            return None
        partition, text = part
        try:
            vector = await self.embedder.embed(text, ctx)
        except EmbedFailed:
            ctx.decisions["cache_semantic"] = "embed_failed"
            return None
        probe = SemanticProbe(partition, vector, signature(text))
        if lookup:
            probe.match = await self.store.nearest(
                partition, vector, probe.sig if self.guard else None, self.threshold)
        return probe

    async def remember(self, probe: SemanticProbe, entry_key: str, keep_s: float) -> None:
        await self.store.add(probe.partition, probe.vector, probe.sig, entry_key, keep_s)
