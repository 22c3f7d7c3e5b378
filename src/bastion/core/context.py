"""The per-request context and the reply that travels back up the pipeline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    Usage,
)

Dialect = Literal["openai", "anthropic", "responses", "completions"]
Kind = Literal["chat", "embeddings"]


@dataclass(slots=True, frozen=True)
class Identity:
    """Who is calling: a virtual key's record, or a caller JWT's claims, as the
    authenticate step found them (see :mod:`bastion.identity`)."""

    key_id: str
    name: str = ""
    user: str | None = None
    team: str | None = None
    models: tuple[str, ...] | None = None  # aliases the key may use; None = all
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    priority: int = 0
    via: Literal["key", "jwt"] = "key"  # a virtual key, or a caller JWT (key_id "jwt_…")
    act_for_users: bool = False  # the key may name its end user per request

    def may_use(self, alias: str) -> bool:
        return self.models is None or alias in self.models


@dataclass(slots=True)
class Context:
    """Everything known about one request. Steps keep per-request data here, never on self.

    ``state`` is a scratch space keyed by step name (e.g. the privacy step's pseudonym
    map); ``decisions`` is what the meter step logs (cache hit, retries, fallback, …).
    """

    request: ChatRequest | EmbeddingRequest
    request_id: str
    dialect: Dialect = "openai"
    kind: Kind = "chat"
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    body_bytes: int = 0  # the raw request body's size: an upper bound of its text (offload)
    identity: Identity | None = None
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    target: str | None = None
    usage: Usage | None = None
    cost_usd: float = 0.0
    status: int = 200
    error_code: str | None = None
    decisions: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    data_classes: set[str] = field(default_factory=set)

    @property
    def alias(self) -> str:
        return self.request.model

    @property
    def chat(self) -> ChatRequest:
        assert isinstance(self.request, ChatRequest)
        return self.request

    @property
    def stream(self) -> bool:
        return isinstance(self.request, ChatRequest) and bool(self.request.stream)

    def remaining_s(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


ChunkStream = AsyncIterator[ChatChunk]

# A flush hint for stream writers: a source sets it before each chunk it yields to say
# whether its next chunk is already at hand (e.g. more events in the bytes just read).
# The front door then writes several frames in one go instead of one syscall each; a
# hint that is wrong only delays a write until the next chunk or the end of the stream.
MORE_COMING: ContextVar[bool] = ContextVar("bastion_more_coming", default=False)


@dataclass(slots=True)
class Reply:
    """What comes back up the pipeline: a whole response or a stream of chunks.

    A step that must see or change a streamed answer wraps ``stream`` (see
    :meth:`map_stream` and :func:`wrap_stream`); raising a :class:`GatewayError`
    from inside the iterator ends the stream with an error event in the client's
    dialect.
    """

    response: ChatResponse | EmbeddingResponse | None = None
    stream: ChunkStream | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def chat(self) -> ChatResponse:
        assert isinstance(self.response, ChatResponse)
        return self.response

    def map_stream(self, fn: Callable[[ChunkStream], ChunkStream]) -> Reply:
        """Replace the stream with ``fn(stream)``; the inner stream is closed with the outer."""
        if self.stream is not None:
            self.stream = wrap_stream(self.stream, fn)
        return self


async def wrap_stream(
    inner: ChunkStream, fn: Callable[[ChunkStream], ChunkStream]
) -> ChunkStream:
    """Run ``fn`` over ``inner`` and close ``inner`` however the outer stream ends.

    When the consumer stops early, ``inner`` is closed before ``fn``'s stream, so
    clean-up runs innermost first, as it does when a stream ends or fails: a step's
    ``finally`` sees what the steps inside it settled (the usage of a cut stream)."""
    outer = fn(inner)
    try:
        async for chunk in outer:
            yield chunk
    finally:
        try:
            await inner.aclose()  # type: ignore[attr-defined]
        finally:
            await outer.aclose()  # type: ignore[attr-defined]
