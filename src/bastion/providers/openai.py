"""OpenAI chat-completions adapter; also Azure OpenAI and OpenAI-compatible servers.

Three URL/auth styles share one wire format:

* ``openai``: ``{base}/chat/completions``, ``Authorization: Bearer``.
* ``azure_openai``: ``{base}/openai/deployments/{model}/chat/completions?api-version=…``,
  ``api-key`` header.
* ``openai_compatible`` (Mistral, Groq, Together, Ollama, vLLM, llama.cpp): as
  ``openai`` with the server's base URL; the key is optional.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import msgspec

from bastion.config.secrets import SecretSource
from bastion.core.errors import ProviderBadResponse, ProviderStreamBroken
from bastion.core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamOptions,
    chat_chunk_decoder,
    chat_response_decoder,
    embedding_response_decoder,
    json_encoder,
)
from bastion.providers.base import Call
from bastion.providers.http import ProviderHTTP, post, provider_key, read_body, sse_events

DEFAULT_AZURE_API_VERSION = "2024-10-21"


class OpenAIProvider:
    """Adapter for the OpenAI wire format (see the module docstring for the styles)."""

    def __init__(
        self,
        name: str,
        http: ProviderHTTP,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: SecretSource | None = None,
        style: str = "openai",
        api_version: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._style = style
        self._api_version = api_version or DEFAULT_AZURE_API_VERSION
        self._extra = dict(extra_headers or {})

    async def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", **self._extra}
        if self._key is not None:
            key = await provider_key(self._key, self.name)
            if self._style == "azure_openai":
                h["api-key"] = key
            else:
                h["Authorization"] = f"Bearer {key}"
        return h

    def _url(self, path: str, model: str) -> str:
        if self._style == "azure_openai":
            return (f"{self._base}/openai/deployments/{model}/{path}"
                    f"?api-version={self._api_version}")
        return f"{self._base}/{path}"

    def _compatible(self, req: ChatRequest) -> ChatRequest:
        """OpenAI-compatible servers (Ollama, llama.cpp, older vLLM) know ``max_tokens``;
        a limit given only as ``max_completion_tokens`` travels as ``max_tokens``."""
        if self._style == "openai_compatible" and req.max_tokens is None and \
                req.max_completion_tokens is not None:
            return msgspec.structs.replace(req, max_tokens=req.max_completion_tokens,
                                           max_completion_tokens=None)
        return req

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        body = json_encoder.encode(msgspec.structs.replace(
            self._compatible(req), model=call.model, stream=None, stream_options=None))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + call.timeouts.total
        async with post(self._http, self._url("chat/completions", call.model), body,
                        await self._headers(), call.timeouts) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            return chat_response_decoder.decode(raw)
        except msgspec.DecodeError:
            raise ProviderBadResponse() from None

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        # Always ask for usage: the gateway meters streams; the front door drops the
        # usage chunk again if the client did not ask for it.
        body = json_encoder.encode(msgspec.structs.replace(
            self._compatible(req), model=call.model, stream=True,
            stream_options=StreamOptions(include_usage=True)))
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with post(self._http, self._url("chat/completions", call.model), body,
                        await self._headers(), call.timeouts) as resp:
            done = False
            async for _event, data in sse_events(resp, start + call.timeouts.first_byte,
                                                 start + call.timeouts.total,
                                                 self._http.max_event_bytes):
                if data == b"[DONE]":
                    done = True
                    break
                try:
                    yield chat_chunk_decoder.decode(data)
                except msgspec.DecodeError:
                    raise ProviderBadResponse() from None
            if not done:
                raise ProviderStreamBroken()

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        body = json_encoder.encode(msgspec.structs.replace(req, model=call.model))
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        async with post(self._http, self._url("embeddings", call.model), body,
                        await self._headers(), call.timeouts) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            return embedding_response_decoder.decode(raw)
        except msgspec.DecodeError:
            raise ProviderBadResponse() from None

    async def aclose(self) -> None:
        await self._http.aclose()
