"""Anthropic Messages API adapter (``type: anthropic``).

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``
(``2023-06-01`` unless ``api_version`` says otherwise); extra configured headers
(e.g. ``anthropic-beta``) are sent too, joined with the client's
``anthropic-beta`` when the request came through the Anthropic front door.
Translation lives in :mod:`bastion.providers.anthropic_wire`. Vendor failures
become :class:`~bastion.core.errors.ProviderError` subclasses by status code
(:func:`~bastion.providers.http.error_for_status`) or, mid-stream, by the
``error`` event's type. Anthropic has no embeddings API: :meth:`embed` refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import msgspec

from bastion.api.anthropic_wire import AnthropicChannel, channel, encoder, message_decoder
from bastion.config.secrets import SecretSource
from bastion.config.settings import ProviderSettings
from bastion.core.errors import ProviderBadRequest, ProviderBadResponse, ProviderStreamBroken
from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)
from bastion.providers.anthropic_wire import StreamReader, build_request, to_chat_response
from bastion.providers.base import Call, Provider
from bastion.providers.http import (
    ProviderHTTP,
    http_for,
    post,
    provider_key,
    read_body,
    sse_events,
    without_secrets,
)

if TYPE_CHECKING:
    from bastion.providers.registry import BuildContext

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"


class AnthropicProvider:
    """Adapter for the Anthropic Messages API (see the module docstring)."""

    def __init__(
        self,
        name: str,
        http: ProviderHTTP,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretSource | None = None,
        api_version: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._url = base_url.rstrip("/").removesuffix("/v1") + "/v1/messages"
        self._key = api_key
        self._base_headers = {"content-type": "application/json",
                              "anthropic-version": api_version or DEFAULT_VERSION,
                              **{k.lower(): v for k, v in (extra_headers or {}).items()}}

    async def _headers(self, ch: AnthropicChannel | None) -> dict[str, str]:
        h = dict(self._base_headers)
        if self._key is not None:
            h["x-api-key"] = await provider_key(self._key, self.name)
        if ch is not None and ch.betas:
            own = h.get("anthropic-beta")
            h["anthropic-beta"] = f"{own},{ch.betas}" if own else ch.betas
        return h

    def _endpoint(self, model: str, stream: bool) -> str:
        return self._url

    def _body(self, req: ChatRequest, model: str, stream: bool,
              ch: AnthropicChannel | None) -> bytes:
        return encoder.encode(build_request(req, model, stream, ch))

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        ch = channel.get()
        body = self._body(req, call.model, False, ch)
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        async with post(self._http, self._endpoint(call.model, False), body,
                        await self._headers(ch), call.timeouts) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            msg = message_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        return to_chat_response(msg, ch)

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        ch = channel.get()
        body = self._body(req, call.model, True, ch)
        start = asyncio.get_running_loop().time()
        reader = StreamReader(ch)
        headers = await self._headers(ch)
        async with post(self._http, self._endpoint(call.model, True), body, headers,
                        call.timeouts) as resp:
            async for event, data in sse_events(resp, start + call.timeouts.first_byte,
                                                start + call.timeouts.total,
                                                self._http.max_event_bytes):
                if event == "error":  # a mid-stream error event may echo the key
                    data = without_secrets(data, headers)
                chunk = reader.feed(event, data)
                if chunk is not None:
                    yield chunk
                if reader.done:
                    return
        raise ProviderStreamBroken()

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        raise ProviderBadRequest("Anthropic has no embeddings API; route embeddings aliases "
                                 "to an OpenAI, Gemini or compatible provider.")

    async def aclose(self) -> None:
        await self._http.aclose()


def build(name: str, settings: ProviderSettings, key: SecretSource | None,
          ctx: BuildContext) -> Provider:
    """Registry entry (``bastion.providers.anthropic:build``)."""
    return AnthropicProvider(
        name, http_for(settings),
        base_url=settings.base_url or DEFAULT_BASE_URL, api_key=key,
        api_version=settings.api_version, extra_headers=settings.headers,
    )
