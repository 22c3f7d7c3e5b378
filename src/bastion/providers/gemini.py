"""Google Gemini adapter (the Generative Language REST API, ``v1beta``).

* chat: ``POST {base}/v1beta/models/{model}:generateContent``; streams use
  ``:streamGenerateContent?alt=sse`` (each event one ``GenerateContentResponse``;
  the stream has no end marker, so a stream that closes before any candidate
  finished is :class:`ProviderStreamBroken`).
* embeddings: ``POST {base}/v1beta/models/{model}:batchEmbedContents``.
* the key travels in the ``x-goog-api-key`` header, never in the URL (URLs end
  up in logs and traces).

``base_url`` is the API root (default ``https://generativelanguage.googleapis.com``);
a base that already ends in a version (``…/v1beta``, ``…/v1``) is used as is, else
``api_version`` (default ``v1beta``) is appended. Translation rules live in
:mod:`bastion.providers.gemini_wire`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

import msgspec

from bastion.config.secrets import SecretSource
from bastion.config.settings import ProviderSettings
from bastion.core.errors import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderStreamBroken,
)
from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Embedding,
    EmbeddingRequest,
    EmbeddingResponse,
    EmbeddingUsage,
    json_encoder,
)
from bastion.providers import gemini_wire as wire
from bastion.providers.base import Call, Provider
from bastion.providers.http import (
    ProviderHTTP,
    error_for_status,
    http_for,
    post,
    provider_key,
    read_body,
    sse_events,
)

if TYPE_CHECKING:
    from bastion.providers.registry import BuildContext

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
_VERSIONED = re.compile(r"/v\d+(?:alpha|beta)?\d*$")


class _ErrorInfo(msgspec.Struct):
    reason: str | None = None


class _Error(msgspec.Struct):
    details: list[_ErrorInfo] = []


class _ErrorBody(msgspec.Struct):
    error: _Error | None = None


_error_decoder = msgspec.json.Decoder(_ErrorBody)


def gemini_error(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """As :func:`error_for_status`, except that Gemini answers a bad key with
    ``400 INVALID_ARGUMENT`` whose ``ErrorInfo.reason`` is ``API_KEY_INVALID``:
    that is our configuration, not the client's request."""
    if status == 400:
        try:
            err = _error_decoder.decode(body).error
        except msgspec.DecodeError:
            err = None  # not Gemini's error shape: the status decides alone
        if err is not None and any(d.reason == "API_KEY_INVALID" for d in err.details):
            return ProviderAuthError(provider_status=status)
    return error_for_status(status, headers, body)


def _estimate_tokens(texts: list[str]) -> int:
    # batchEmbedContents reports no usage; about four characters a token.
    return sum(max(1, (len(t) + 3) // 4) for t in texts if t)


class GeminiProvider:
    """Adapter for the Gemini REST API (see the module docstring)."""

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
        base = base_url.rstrip("/")
        if not _VERSIONED.search(base):
            base = f"{base}/{api_version or DEFAULT_API_VERSION}"
        self._base = base
        self._key = api_key
        self._extra = dict(extra_headers or {})

    async def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", **self._extra}
        if self._key is not None:
            h["x-goog-api-key"] = await provider_key(self._key, self.name)
        return h

    def _url(self, model: str, method: str) -> str:
        model = model.removeprefix("models/")
        return f"{self._base}/models/{quote(model, safe='-._~@')}:{method}"

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        body = json_encoder.encode(wire.to_gemini(req))
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        async with post(self._http, self._url(call.model, "generateContent"), body,
                        await self._headers(), call.timeouts, gemini_error) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            return wire.to_response(wire.response_decoder.decode(raw), call.model)
        except msgspec.DecodeError:
            raise ProviderBadResponse() from None

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        body = json_encoder.encode(wire.to_gemini(req))
        start = asyncio.get_running_loop().time()
        state = wire.StreamState(call.model, int(time.time()))
        url = self._url(call.model, "streamGenerateContent") + "?alt=sse"
        async with post(self._http, url, body, await self._headers(), call.timeouts,
                        gemini_error) as resp:
            async for _event, data in sse_events(resp, start + call.timeouts.first_byte,
                                                 start + call.timeouts.total,
                                                 self._http.max_event_bytes):
                try:
                    event = wire.response_decoder.decode(data)
                except msgspec.DecodeError:
                    raise ProviderBadResponse() from None
                chunk = state.feed(event)
                if chunk is not None:
                    yield chunk
        closing = state.finish()
        if not closing:
            raise ProviderStreamBroken()
        for chunk in closing:
            yield chunk

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = req.texts()
        if not texts:
            raise ProviderBadRequest("Gemini embeds text only; send input as strings.")
        model = call.model.removeprefix("models/")
        body = json_encoder.encode(wire.embed_body(model, texts, req.dimensions))
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        async with post(self._http, self._url(model, "batchEmbedContents"), body,
                        await self._headers(), call.timeouts, gemini_error) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            out = wire.embed_decoder.decode(raw).embeddings
        except msgspec.DecodeError:
            raise ProviderBadResponse() from None
        if len(out) != len(texts):
            raise ProviderBadResponse()
        b64 = req.encoding_format == "base64"
        data = [Embedding(index=i, embedding=wire.float32_base64(e.values) if b64 else e.values)
                for i, e in enumerate(out)]
        tokens = _estimate_tokens(texts)
        return EmbeddingResponse(data=data, model=call.model,
                                 usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))

    async def aclose(self) -> None:
        await self._http.aclose()


def build(name: str, settings: ProviderSettings, key: SecretSource | None,
          ctx: BuildContext) -> Provider:
    """Registry entry (``bastion.providers.gemini:build``)."""
    return GeminiProvider(
        name, http_for(settings),
        base_url=settings.base_url or DEFAULT_BASE_URL, api_key=key,
        api_version=settings.api_version, extra_headers=settings.headers,
    )
