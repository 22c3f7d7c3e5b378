"""review ←: confidence of each answer; low-confidence answers flagged or held for a person.

For an alias with ``review`` settings (see :mod:`bastion.config.review_settings`):

* → when the policy judges confidence and some target can return log probabilities
  (OpenAI-style providers and the fake; Gemini is left alone, as not all its models
  accept the parameter), ``logprobs`` is requested; the answer's log probabilities are
  stripped again when the client did not ask for them;
* ← the answer's confidence is computed (:mod:`bastion.review.confidence`) and
  recorded in ``ctx.decisions`` and the ``x-bastion-confidence`` header;
* ``flag``: a low-confidence answer goes out marked ``x-bastion-review: flagged``;
* ``hold``: it is stored in the review queue (:mod:`bastion.stores.review`) and the
  client gets 202 with a review id to poll (``GET /v1/bastion/reviews/{id}``);
* ``always``: every answer counts as low-confidence (high-stakes aliases).

Streams: the verdict must come before the first byte (headers, or a 202 instead of a
stream), so the whole stream is gathered first (the cache's assembler) and then
replayed as a stream (the cache's replay), or held. A stream that fails midway is
passed on as it came (``flag``) or refused without any of its text (``hold``).

Sits outside the traffic and guard steps (right after authenticate), so what it
judges and holds is the answer the client would get, and a held answer's cost is
settled like any other.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec

from bastion.api.replay import replay_as_stream
from bastion.cache.assemble import StreamAssembler
from bastion.config.review_settings import ReviewSettings
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import ContentFiltered, GatewayError, ReviewPending
from bastion.core.offload import run_bounded
from bastion.core.pipeline import Next
from bastion.core.types import ChatChunk, ChatResponse
from bastion.guards.output.check import SUSPICION
from bastion.guards.output.moderation import moderate
from bastion.review.confidence import Confidence, score, text_signals, token_probabilities
from bastion.stores.review import ReviewItem, ReviewQueue, new_review_id

CONFIDENCE_HEADER = "x-bastion-confidence"
REVIEW_HEADER = "x-bastion-review"
LOGPROB_PROVIDERS = frozenset({"openai", "azure_openai", "openai_compatible", "fake"})
_GATHER_MAX = 64 * 1024 * 1024  # characters: past this a stream cannot be judged whole
_PROMPT_TURNS = 12  # the conversation's last turns kept for the reviewer
_PROMPT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    """An alias's ``review`` settings, resolved once."""

    settings: ReviewSettings
    logprobs: bool  # ask the provider for log probabilities
    harmful_threshold: float = 0.5

    @property
    def hold(self) -> bool:
        return self.settings.action == "hold"


def _encode(resp: ChatResponse) -> str:
    return msgspec.json.encode(resp).decode()


MASK = "[personal data]"


def masker(values: Iterable[str]) -> Callable[[str], str]:
    """Replaces each of ``values`` (longest first) with :data:`MASK`."""
    found = sorted({v for v in values if isinstance(v, str) and len(v) >= 2}, key=len,
                   reverse=True)
    if not found:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(v) for v in found))
    return lambda text: pattern.sub(MASK, text)


def _prompt(ctx: Context, mask: Callable[[str], str]) -> list[dict[str, str]]:
    turns, size = [], 0
    for m in reversed(ctx.chat.messages):
        text = mask(m.text())[: _PROMPT_CHARS - size]
        turns.append({"role": m.role, "text": text})
        size += len(text)
        if len(turns) >= _PROMPT_TURNS or size >= _PROMPT_CHARS:
            break
    return turns[::-1]


def strip_logprobs(resp: ChatResponse) -> None:
    for c in resp.choices:
        c.logprobs = None


async def _gather(stream: ChunkStream) -> tuple[list[ChatChunk], ChatResponse | None,
                                                  GatewayError | None]:
    """Every chunk of ``stream``, the whole answer (None if it never finished) and the
    error that ended it, if any."""
    chunks: list[ChatChunk] = []
    asm = StreamAssembler(_GATHER_MAX)
    try:
        async for chunk in stream:
            asm.add(chunk)
            chunks.append(chunk)
    except GatewayError as e:
        return chunks, None, e
    return chunks, asm.result(), None


async def _as_they_came(chunks: list[ChatChunk], err: GatewayError | None) -> AsyncIterator[
        ChatChunk]:
    for c in chunks:
        yield c
    if err is not None:
        raise err


class ReviewStep:
    """See the module docstring. ``policies`` maps chat aliases to their review policy."""

    def __init__(self, policies: Mapping[str, ReviewPolicy], queue: ReviewQueue) -> None:
        self.policies = dict(policies)
        self.queue = queue

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        policy = self.policies.get(ctx.alias)
        if policy is None or ctx.kind != "chat":
            return await call_next(ctx)
        asked = bool(ctx.chat.logprobs)
        if policy.logprobs and not asked:
            ctx.request = msgspec.structs.replace(ctx.chat, logprobs=True)
        reply = await call_next(ctx)
        if reply.stream is not None:
            chunks, resp, err = await _gather(reply.stream)
            if resp is None:
                return self._unjudged(ctx, policy, chunks, err, asked, reply)
        elif isinstance(reply.response, ChatResponse):
            resp = reply.response
        else:
            return reply
        conf = await self._judge(ctx, resp, policy)
        if not asked:
            strip_logprobs(resp)
        low = policy.settings.always or (
            conf.score is not None and conf.score < policy.settings.min_confidence)
        ctx.decisions["confidence"] = conf.header()
        if conf.signals:
            ctx.decisions["confidence_signals"] = list(conf.signals)
        ctx.response_headers[CONFIDENCE_HEADER] = conf.header()
        if low and policy.hold:
            await self._hold(ctx, resp, conf, policy)
        if low:
            ctx.decisions["review"] = "flagged"
            ctx.response_headers[REVIEW_HEADER] = "flagged"
        if reply.stream is not None:
            return Reply(stream=replay_as_stream(resp), headers=reply.headers)
        return reply

    @staticmethod
    def _unjudged(ctx: Context, policy: ReviewPolicy, chunks: list[ChatChunk],
                  err: GatewayError | None, asked: bool, reply: Reply) -> Reply:
        """A stream that never finished whole: refused under ``hold`` (never any
        unreviewed text), passed on as it came under ``flag``."""
        ctx.decisions["confidence"] = "unknown"
        if policy.hold:
            raise err or ContentFiltered(
                "The answer could not be held for review, so it was not sent.")
        if not asked:
            for c in chunks:
                for ch in c.choices:
                    ch.logprobs = None
        return Reply(stream=_as_they_came(chunks, err), headers=reply.headers)

    async def _judge(self, ctx: Context, resp: ChatResponse, policy: ReviewPolicy
                     ) -> Confidence:
        signals = text_signals(resp)
        if ctx.decisions.get("guards_schema") in ("repair", "repaired"):
            signals.append("schema_repair")
        text = "\n".join(c.message.text() for c in resp.choices)
        if text:
            result = await run_bounded(len(text), moderate, text, policy.harmful_threshold)
            top = max(result.category_scores.values(), default=0.0)
            if policy.harmful_threshold * SUSPICION <= top < policy.harmful_threshold:
                signals.append("moderation_near")
        return score(token_probabilities(resp), signals)

    async def _hold(self, ctx: Context, resp: ChatResponse, conf: Confidence,
                    policy: ReviewPolicy) -> None:
        now = time.time()
        ttl = policy.settings.ttl_s
        ident = ctx.identity
        # Reviewers never see values a privacy step marked personal; the client gets them.
        mask = masker(ctx.state.get("guards.sensitive_values", ()))
        shown = msgspec.json.decode(_encode(resp), type=ChatResponse)
        for c in shown.choices:
            if isinstance(c.message.content, str):
                c.message.content = mask(c.message.content)
        item = ReviewItem(
            id=new_review_id(), created_at=now, expires_at=now + ttl, purge_after=now + ttl,
            status="pending", reason="always" if policy.settings.always else "low_confidence",
            alias=ctx.alias, dialect=ctx.dialect, stream=ctx.stream,
            request_id=ctx.request_id, key_id=ident.key_id if ident else None,
            user=ident.user if ident else None, team=ident.team if ident else None,
            confidence=conf.score, signals=list(conf.signals), prompt=_prompt(ctx, mask),
            answer=_encode(resp), answer_shown=_encode(shown))
        await self.queue.add(item)
        ctx.decisions["review"] = "held"
        raise ReviewPending(item.id, item.expires_at)
