"""The semantic half of the cache step: read the conversation, embed, propose, verify.

A :class:`SemanticProbe` carries what one request computed (its reading, the
vector, the partition, and the accepted candidate if any) from the lookup on the
way down to the store on the way back, so a miss embeds its prompt once.

The lookup: :func:`~bastion.cache.semantic.context.read` the request, embed its
question (with the conversation's tail when the question depends on it), ask the
store for the ``k`` nearest cached questions of the same partition with a cosine
of at least ``floor``, and let the verifier judge them, nearest first. The first
one whose verifier score reaches its acceptance threshold (the alias's, from its
error budget, or the entry's own once shadow verification moved it) answers. A
question that depends on its conversation must also come from the same context
(:func:`~bastion.cache.semantic.context.same_context`) and differ from the cached
one only in ways the verifier reads as the same words (case, greetings,
inflection, synonyms, typos).
"""

from __future__ import annotations

from dataclasses import dataclass

from bastion.cache.key import answer_shaping
from bastion.cache.semantic.context import Reading, read, same_context
from bastion.cache.semantic.embedder import Embedder, EmbedFailed
from bastion.cache.semantic.shadow import Shadow
from bastion.cache.semantic.store import Candidate, VectorStore
from bastion.cache.semantic.text import analyse
from bastion.cache.semantic.verifier import Verifier
from bastion.core.context import Context
from bastion.core.offload import run_bounded

CANDIDATES = 4


@dataclass(slots=True)
class Accepted:
    candidate: Candidate
    score: float
    reason: str


@dataclass(slots=True)
class SemanticProbe:
    reading: Reading
    partition: str
    vector: list[float]
    words: bytes = b""  # the question's packed word vectors (:mod:`.words`)
    match: Accepted | None = None


@dataclass(slots=True, frozen=True)
class SemanticLookup:
    """One alias's semantic settings with its embedder, verifier and the shared store."""

    embedder: Embedder
    embedder_id: str
    store: VectorStore
    fingerprint: bytes
    floor: float
    verifier: Verifier | None  # None: cosine alone decides (guard: false)
    threshold: float
    max_chars: int
    shadow: Shadow | None = None

    async def probe(self, ctx: Context, scope: str, lookup: bool = True) -> SemanticProbe | None:
        """Read and embed the request and (if ``lookup``) find a verified neighbour;
        ``None`` when the request cannot be read (no plain-text user message last, tool
        traffic), its question is too long, or no embedding could be had (all misses)."""
        # Reading a long conversation is CPU work in proportion to it: off the loop when
        # the request is big (the body's size bounds its text).
        reading = await run_bounded(ctx.body_bytes, read, self.embedder_id + "|" + scope,
                                    self.fingerprint, ctx.chat, answer_shaping(ctx))
        if reading is None or len(reading.question) > self.max_chars:
            return None
        try:
            vector, words = await self.embedder.embed_words(reading.embed_text, ctx)
        except EmbedFailed:
            ctx.decisions["cache_semantic"] = "embed_failed"
            return None
        # A question read with its conversation's tail: its word vectors are the tail's
        # too, and only same-words questions pass there anyway (see accept).
        probe = SemanticProbe(reading, reading.partition, vector,
                              b"" if reading.dependent else words)
        if lookup:
            found = await self.store.nearest(reading.partition, vector, CANDIDATES, self.floor)
            probe.match = self.accept(reading, found, probe.words)
        return probe

    def accept(self, reading: Reading, found: list[Candidate], words: bytes = b""
               ) -> Accepted | None:
        """The first candidate the verifier accepts (nearest first), if any."""
        base = self.shadow.threshold if self.shadow is not None else self.threshold
        for c in sorted(found, key=lambda c: -c.similarity):
            if reading.dependent and not same_context(c.context, reading.context):
                continue
            if self.verifier is None:
                if c.similarity >= self.threshold:
                    return Accepted(c, c.similarity, "cosine")
                continue
            verdict = self.verifier.judge(analyse(c.question), reading.parsed, c.similarity,
                                          c.words, words)
            if reading.dependent and verdict.reason != "same_words":
                # The cosine is the conversation tail's as much as the question's: the
                # classifier was not made for it, so only same-words questions pass.
                continue
            if verdict.score >= (c.threshold if c.threshold is not None else base):
                return Accepted(c, verdict.score, verdict.reason)
        return None

    async def remember(self, probe: SemanticProbe, entry_key: str, keep_s: float) -> None:
        r = probe.reading
        await self.store.add(probe.partition, probe.vector, entry_key, r.question, r.context,
                             keep_s, probe.words)
