"""The provider adapter protocol.

An adapter has a name, ``complete``, ``stream``, ``embed`` and ``aclose``. It
receives its HTTP session from outside, speaks one vendor's wire format, and
raises only :class:`~bastion.core.errors.ProviderError` subclasses, converted
by type and status code at its boundary. Retries, breakers and fallback live
outside adapters (see :mod:`bastion.steps.route`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol

from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)


@dataclass(frozen=True, slots=True)
class CallTimeouts:
    """Seconds. ``first_byte`` is time to the response head (and first event on streams)."""

    connect: float = 2.0
    first_byte: float = 30.0
    total: float = 120.0


@dataclass(frozen=True, slots=True)
class Call:
    """How to make one upstream call: the vendor's model name and the time allowed."""

    model: str
    timeouts: CallTimeouts = field(default_factory=CallTimeouts)
    request_id: str = ""


class Provider(Protocol):
    """One upstream vendor. ``stream`` is an async generator of canonical chunks."""

    name: str

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse: ...

    def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]: ...

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse: ...

    async def aclose(self) -> None: ...
