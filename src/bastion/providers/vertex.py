"""Google Vertex AI adapter (``type: vertex``): Gemini, and Anthropic's models on Vertex.

Every call goes to
``{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}``
with ``Authorization: Bearer`` and an access token from
:mod:`bastion.providers.google_auth` (a service-account key, or workload identity).
``base`` is ``https://{location}-aiplatform.googleapis.com`` (``https://aiplatform.googleapis.com``
for ``location: global``) unless ``base_url`` says otherwise.

* Gemini models (publisher ``google``): ``generateContent`` and
  ``streamGenerateContent?alt=sse``, translated by :mod:`bastion.providers.gemini_wire`
  exactly as for the Gemini API; embeddings through ``predict``
  (``text-embedding-*``, ``text-multilingual-embedding-*``, ``gemini-embedding-*``).
* Claude models (publisher ``anthropic``; model names starting with ``claude``):
  ``rawPredict`` and ``streamRawPredict`` with the Messages API body of
  :mod:`bastion.providers.anthropic_wire`, without ``model`` and with
  ``anthropic_version: vertex-2023-10-16``; the Anthropic front door's extras (betas,
  thinking, …) pass through as they do to Anthropic itself.

A target may name the publisher explicitly (``vertex/anthropic/claude-…``,
``vertex/google/gemini-…``). An answer of 401 (a token revoked or expired early)
drops the cached token and the call is made once more with a fresh one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import msgspec

from bastion.api.anthropic_wire import AnthropicChannel
from bastion.config.secrets import SecretSource
from bastion.config.settings import ProviderSettings
from bastion.core.errors import ProviderAuthError, ProviderBadRequest, ProviderBadResponse
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
from bastion.observe.logging import get_logger
from bastion.providers.anthropic import AnthropicProvider
from bastion.providers.anthropic_wire import build_request
from bastion.providers.base import Call, Provider
from bastion.providers.gemini import GeminiProvider, gemini_error
from bastion.providers.gemini_wire import float32_base64
from bastion.providers.google_auth import (
    MetadataTokens,
    ServiceAccountTokens,
    TokenSource,
    TokenUnavailable,
)
from bastion.providers.http import ProviderHTTP, http_for, post, read_body

if TYPE_CHECKING:
    from bastion.providers.registry import BuildContext

ANTHROPIC_VERSION = "vertex-2023-10-16"
EMBED_BATCH = 250
EMBED_PARALLEL = 8
T = TypeVar("T")


async def bearer(tokens: TokenSource, provider: str) -> str:
    """``Bearer <token>``; a token that cannot be had is logged (the reason, never a
    secret) and raised as :class:`ProviderAuthError`, so the route falls back."""
    try:
        return "Bearer " + await tokens.token()
    except TokenUnavailable as e:
        get_logger("bastion.upstream").warning("provider_key_unavailable", provider=provider,
                                               reason=str(e))
        raise ProviderAuthError(
            "The gateway could not obtain its Google access token for this provider.") from None


class _Gemini(GeminiProvider):
    """The Gemini API adapter pointed at Vertex, with a bearer token instead of a key."""

    def __init__(self, name: str, http: ProviderHTTP, prefix: str,
                 tokens: TokenSource, extra_headers: dict[str, str]) -> None:
        super().__init__(name, http, extra_headers=extra_headers)
        self._base = prefix + "/publishers/google"
        self._tokens = tokens

    async def _headers(self) -> dict[str, str]:
        h = await super()._headers()
        h["Authorization"] = await bearer(self._tokens, self.name)
        return h

    async def _predict(self, model: str, texts: list[str], req: EmbeddingRequest,
                       call: Call) -> tuple[list[list[float]], int]:
        payload: dict[str, Any] = {"instances": [{"content": t} for t in texts]}
        if req.dimensions is not None:
            payload["parameters"] = {"outputDimensionality": req.dimensions}
        body = json_encoder.encode(payload)
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        async with post(self._http, self._url(model, "predict"), body,
                        await self._headers(), call.timeouts, gemini_error) as resp:
            raw = await read_body(resp, deadline, self._http.max_response_bytes)
        try:
            out = _predictions.decode(raw).predictions
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        return ([p.embeddings.values for p in out],
                sum(p.embeddings.statistics.token_count for p in out))

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = req.texts()
        if not texts or len(texts) != (1 if isinstance(req.input, str) else len(req.input)):
            raise ProviderBadRequest("Vertex AI embeds text only; send input as strings.")
        size = 1 if "gemini-embedding" in call.model else EMBED_BATCH
        gate = asyncio.Semaphore(EMBED_PARALLEL)

        async def batch(part: list[str]) -> tuple[list[list[float]], int]:
            async with gate:
                return await self._predict(call.model, part, req, call)

        done = await asyncio.gather(*(batch(texts[i:i + size])
                                      for i in range(0, len(texts), size)))
        vectors = [v for got, _ in done for v in got]
        if len(vectors) != len(texts):
            raise ProviderBadResponse()
        tokens = sum(n for _, n in done)
        b64 = req.encoding_format == "base64"
        data = [Embedding(index=i, embedding=float32_base64(v) if b64 else v)
                for i, v in enumerate(vectors)]
        return EmbeddingResponse(data=data, model=call.model,
                                 usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))


class _Stats(msgspec.Struct):
    token_count: int = 0


class _Values(msgspec.Struct):
    values: list[float] = []
    statistics: _Stats = msgspec.field(default_factory=_Stats)


class _Prediction(msgspec.Struct):
    embeddings: _Values = msgspec.field(default_factory=_Values)


class _Predictions(msgspec.Struct):
    predictions: list[_Prediction] = []


_predictions = msgspec.json.Decoder(_Predictions)


class _Claude(AnthropicProvider):
    """The Anthropic adapter pointed at Vertex's rawPredict endpoints."""

    def __init__(self, name: str, http: ProviderHTTP, prefix: str,
                 tokens: TokenSource, extra_headers: dict[str, str]) -> None:
        super().__init__(name, http, extra_headers=extra_headers)
        self._base_headers.pop("anthropic-version", None)  # it travels in the body
        self._models = prefix + "/publishers/anthropic/models/"
        self._tokens = tokens

    def _endpoint(self, model: str, stream: bool) -> str:
        method = "streamRawPredict" if stream else "rawPredict"
        return f"{self._models}{quote(model, safe='-._~@')}:{method}"

    def _body(self, req: ChatRequest, model: str, stream: bool,
              ch: AnthropicChannel | None) -> bytes:
        body = msgspec.to_builtins(build_request(req, model, stream, ch))
        del body["model"]  # named in the URL; Vertex refuses it in the body
        return json_encoder.encode({"anthropic_version": ANTHROPIC_VERSION, **body})

    async def _headers(self, ch: AnthropicChannel | None) -> dict[str, str]:
        h = await super()._headers(ch)
        h["authorization"] = await bearer(self._tokens, self.name)
        return h


def default_base(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexProvider:
    """Adapter for Vertex AI (see the module docstring)."""

    def __init__(self, name: str, http: ProviderHTTP, tokens: TokenSource, *,
                 project: str, location: str, base_url: str | None = None,
                 extra_headers: dict[str, str] | None = None) -> None:
        self.name = name
        self._http = http
        self._tokens = tokens
        root = (base_url or default_base(location)).rstrip("/").removesuffix("/v1")
        prefix = f"{root}/v1/projects/{quote(project, safe='')}/locations/{quote(location)}"
        extra = dict(extra_headers or {})
        self._gemini = _Gemini(name, http, prefix, tokens, extra)
        self._claude = _Claude(name, http, prefix, tokens, extra)

    def _pick(self, call: Call) -> tuple[_Gemini | _Claude, Call]:
        publisher, sep, model = call.model.partition("/")
        if not sep:
            publisher, model = ("anthropic" if call.model.startswith("claude") else "google",
                                call.model)
        if publisher not in ("google", "anthropic"):
            raise ProviderBadRequest(f"Vertex AI models of publisher {publisher!r} are not "
                                     "supported by this gateway (google and anthropic are).")
        adapter = self._claude if publisher == "anthropic" else self._gemini
        return adapter, dataclasses.replace(call, model=model)

    async def _with_fresh_token(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except ProviderAuthError as e:
            if e.provider_status != 401:
                raise
            self._tokens.invalidate()
        return await fn()

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        adapter, call = self._pick(call)
        return await self._with_fresh_token(lambda: adapter.complete(req, call))

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        adapter, call = self._pick(call)
        inner = adapter.stream(req, call)
        try:
            first = await anext(inner)
        except ProviderAuthError as e:
            await inner.aclose()
            if e.provider_status != 401:
                raise
            self._tokens.invalidate()
            inner = adapter.stream(req, call)
            first = await anext(inner)
        async with aclosing(inner):
            yield first
            async for chunk in inner:
                yield chunk

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        adapter, call = self._pick(call)
        if adapter is self._claude:
            raise ProviderBadRequest("Anthropic models have no embeddings; use a Vertex "
                                     "text-embedding model.")
        return await self._with_fresh_token(lambda: self._gemini.embed(req, call))

    async def aclose(self) -> None:
        await self._http.aclose()


def build(name: str, settings: ProviderSettings, key: SecretSource | None,
          ctx: BuildContext) -> Provider:
    """Registry entry (``bastion.providers.vertex:build``)."""
    assert settings.project is not None  # the settings refuse a vertex provider without
    assert settings.location is not None
    http = http_for(settings)
    ref = settings.credentials
    if ref is None and ctx.env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        ref = "file:" + ctx.env["GOOGLE_APPLICATION_CREDENTIALS"]
    tokens: TokenSource = (ServiceAccountTokens(ctx.secret(ref, settings.key_ttl_s),
                                                http.session)
                           if ref is not None else MetadataTokens(ctx.env, http.session))
    ctx.sources.append(tokens)
    return VertexProvider(name, http, tokens, project=settings.project,
                          location=settings.location, base_url=settings.base_url,
                          extra_headers=settings.headers)
