"""Embedders for the semantic cache: one method, ``embed(text, ctx)`` → a unit vector.

* :class:`LocalEmbedder` runs all-MiniLM-L6-v2 in one worker thread, so the event
  loop never waits on the CPU work; the model loads at start. It runs on ONNX
  Runtime with int8 weights (:mod:`.onnx_minilm`, under a millisecond for a short
  prompt) when ``onnxruntime`` and ``onnx`` are installed, else on numpy
  (:mod:`.minilm`, 5 to 30 ms). Prompts that arrive while a batch runs are embedded
  together in the next batch (one padded run), so a burst costs one model call
  per batch instead of one per request.
* :class:`AliasEmbedder` asks an ``embeddings`` alias of this gateway, through the
  gateway's own route (targets, fallback and timeouts included), on the request's
  deadline. Its cost is recorded in ``ctx.decisions["cache_embed_cost_usd"]``.

An embedder that cannot answer raises :class:`EmbedFailed`; the cache step treats
that as a semantic miss, never as a failed request.
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from bastion.core.context import Context
from bastion.core.errors import GatewayError
from bastion.core.types import EmbeddingRequest, EmbeddingResponse

if TYPE_CHECKING:
    from bastion.core.pipeline import Next


class EmbedFailed(Exception):
    """No embedding could be had for this request (a semantic miss)."""


class Embedder(Protocol):
    """Turns the compared text of a request into a unit-length vector."""

    async def embed(self, text: str, ctx: Context) -> list[float]: ...

    async def embed_words(self, text: str, ctx: Context) -> tuple[list[float], bytes]:
        """The vector and the packed content-word vectors of :mod:`.words` (``b""``
        when this embedder has none: the verifier's classifier then refuses)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        raise EmbedFailed("zero vector")
    return [v / norm for v in vector]


class BatchModel(Protocol):
    def embed_batch(self, texts: list[str]) -> Any: ...

    def embed_words_batch(self, texts: list[str]) -> tuple[Any, list[bytes]]: ...


def load_local_model() -> BatchModel:
    """ONNX Runtime when installed, else the numpy forward pass (same vectors)."""
    # Imported here: both are heavy and optional (the ``semantic`` extra).
    from bastion.cache.semantic.minilm import MiniLM, ModelUnavailable

    try:
        from bastion.cache.semantic.onnx_minilm import OnnxMiniLM

        return OnnxMiniLM()
    except ModelUnavailable:
        return MiniLM()


class LocalEmbedder:
    """all-MiniLM-L6-v2 in one dedicated thread, batched (see the module docstring)."""

    max_batch = 32

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bastion-embed")
        self._model: BatchModel | None = None
        self._loading: asyncio.Future[BatchModel] | None = None
        self._pending: list[tuple[str, asyncio.Future[tuple[list[float], bytes]]]] = []
        self._draining = False

    async def start(self) -> None:
        await self._load()

    async def _load(self) -> BatchModel:
        if self._model is not None:
            return self._model
        if self._loading is None:
            self._loading = asyncio.get_running_loop().run_in_executor(
                self._pool, load_local_model)
        self._model = await self._loading
        return self._model

    async def embed(self, text: str, ctx: Context) -> list[float]:
        return (await self.embed_words(text, ctx))[0]

    async def embed_words(self, text: str, ctx: Context) -> tuple[list[float], bytes]:
        model = await self._load()
        fut: asyncio.Future[tuple[list[float], bytes]] = (
            asyncio.get_running_loop().create_future())
        self._pending.append((text, fut))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain(model))
        return await fut

    async def _drain(self, model: BatchModel) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[:self.max_batch]
                del self._pending[:self.max_batch]
                try:
                    out, words = await loop.run_in_executor(
                        self._pool, model.embed_words_batch, [t for t, _ in batch])
                except (RuntimeError, ValueError) as e:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(EmbedFailed(type(e).__name__))
                    continue
                for (_, fut), vec, w in zip(batch, out, words, strict=True):
                    if not fut.done():
                        fut.set_result((vec.tolist(), w))
        finally:
            self._draining = False

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class AliasEmbedder:
    """Embeddings from the gateway's own ``alias`` (an ``embeddings`` model)."""

    def __init__(self, alias: str, route: Next) -> None:
        self.alias = alias
        self.route = route

    async def start(self) -> None:
        return None

    async def embed_words(self, text: str, ctx: Context) -> tuple[list[float], bytes]:
        return await self.embed(text, ctx), b""

    async def embed(self, text: str, ctx: Context) -> list[float]:
        sub = Context(request=EmbeddingRequest(model=self.alias, input=text),
                      request_id=ctx.request_id + "-cache-embed", kind="embeddings",
                      headers={}, identity=ctx.identity, deadline=ctx.deadline)
        try:
            reply = await self.route(sub)
        except GatewayError as e:
            raise EmbedFailed(type(e).__name__) from None
        resp = reply.response
        if not isinstance(resp, EmbeddingResponse) or not resp.data:
            raise EmbedFailed("no embedding in the answer")
        vec = resp.data[0].embedding
        if not isinstance(vec, list):
            raise EmbedFailed("base64 embedding")
        ctx.decisions["cache_embed_cost_usd"] = sub.cost_usd
        return unit(vec)

    async def aclose(self) -> None:
        return None
