"""AWS Bedrock adapter (``type: bedrock``): the Converse API, and InvokeModel for embeddings.

* chat: ``POST {base}/model/{modelId}/converse``; streams use ``converse-stream``,
  whose answer is the AWS event-stream binary framing
  (:mod:`bastion.providers.eventstream`), one JSON event per message.
* embeddings: ``POST {base}/model/{modelId}/invoke`` with Titan
  (``amazon.titan-embed-*``: one text per call, run a few at a time) or Cohere
  (``cohere.embed-*``: up to 96 texts per call) bodies.
* ``base`` is ``https://bedrock-runtime.{region}.amazonaws.com`` unless ``base_url``
  says otherwise (a VPC endpoint, a test stand-in). The model id is one path segment,
  percent-encoded (``anthropic.claude-3-5-haiku-20241022-v1:0`` → ``…v1%3A0``), sent
  exactly so, and signed as AWS wants (SigV4, service ``bedrock``, the path encoded
  once more in the canonical request).
* credentials: see :mod:`bastion.providers.aws_auth`; with ``api_key`` (a Bedrock API
  key) requests carry ``Authorization: Bearer`` instead of a signature.

Errors: Bedrock names them in ``x-amzn-ErrorType`` (and ``:exception-type`` inside
streams); throttling and quota errors become :class:`ProviderRateLimited`, validation
errors :class:`ProviderBadRequest` with Bedrock's scrubbed message, signature and
permission errors :class:`ProviderAuthError` (see
:data:`bastion.providers.bedrock_wire.ERROR_TYPES`). Translation rules live in
:mod:`bastion.providers.bedrock_wire`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from bastion.config.secrets import SecretSource
from bastion.config.settings import ProviderSettings
from bastion.core.context import MORE_COMING
from bastion.core.errors import (
    ProviderAnswerTooLarge,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderBadResponse,
    ProviderError,
    ProviderStreamBroken,
    ProviderTimeout,
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
from bastion.providers import bedrock_wire as wire
from bastion.providers.aws_auth import AwsCredentialChain, AwsSigner, ConfiguredKeys
from bastion.providers.base import Call, Provider
from bastion.providers.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamTooLarge,
    Message,
)
from bastion.providers.gemini_wire import float32_base64
from bastion.providers.http import (
    ProviderHTTP,
    error_for_status,
    http_for,
    post,
    provider_key,
    read_body,
    retry_after_s,
    without_secrets,
)

if TYPE_CHECKING:
    from bastion.providers.registry import BuildContext

EVENT_STREAM = "application/vnd.amazon.eventstream"
TITAN_PARALLEL = 8
COHERE_BATCH = 96


def bedrock_error(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """Bedrock's error by its ``x-amzn-ErrorType`` name, else by status code."""
    kind = headers.get("x-amzn-ErrorType", "")
    return (wire.error_of(kind, body, retry_after_s(headers)) if kind else None) or (
        error_for_status(status, headers, body))


async def event_messages(resp: aiohttp.ClientResponse, first_byte_deadline: float,
                         deadline: float, max_event_bytes: int) -> AsyncIterator[Message]:
    """The event-stream messages of ``resp``, under the same time and size rules as
    :func:`bastion.providers.http.sse_events`."""
    loop = asyncio.get_running_loop()
    decoder = EventStreamDecoder(max_event_bytes)
    first = True
    while True:
        try:
            if first:
                async with asyncio.timeout_at(first_byte_deadline):
                    data = await resp.content.readany()
            else:
                data = await resp.content.readany()
        except TimeoutError:
            raise ProviderTimeout() from None
        except (aiohttp.ClientError, OSError) as e:
            raise ProviderStreamBroken() from e
        if not data:
            if decoder.pending:
                raise ProviderStreamBroken()
            return
        if loop.time() > deadline:
            raise ProviderTimeout()
        try:
            messages = decoder.feed(data)
        except EventStreamTooLarge as e:
            raise ProviderAnswerTooLarge(f"The AI provider sent {e} (the limit is "
                                         f"{max_event_bytes:,}).") from None
        except EventStreamError:
            raise ProviderBadResponse() from None
        for i, m in enumerate(messages):
            first = False
            MORE_COMING.set(i + 1 < len(messages))
            yield m


class BedrockProvider:
    """Adapter for AWS Bedrock (see the module docstring)."""

    def __init__(
        self, name: str, http: ProviderHTTP, *, region: str,
        signer: AwsSigner | None = None, api_key: SecretSource | None = None,
        base_url: str | None = None, extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._http = http
        self._base = (base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        self._signer = signer
        self._key = api_key
        self._extra = dict(extra_headers or {})

    def _url(self, model: str, action: str) -> str:
        return f"{self._base}/model/{quote(model, safe='')}/{action}"

    async def _headers(self, url: str, body: bytes, accept: str) -> dict[str, str]:
        h = {**self._extra, "Content-Type": "application/json", "Accept": accept}
        if self._key is not None:
            h["Authorization"] = "Bearer " + await provider_key(self._key, self.name)
            return h
        if self._signer is None:
            return h
        return await self._signer.headers(url, body, h)

    async def _post(self, model: str, action: str, body: bytes,
                    accept: str = "application/json") -> tuple[URL, dict[str, str]]:
        url = self._url(model, action)
        # encoded=True: the path goes out exactly as signed (yarl would turn %3A back to ":")
        return URL(url, encoded=True), await self._headers(url, body, accept)

    def _auth_failed(self, e: ProviderError) -> None:
        if isinstance(e, ProviderAuthError) and self._signer is not None:
            self._signer.chain.invalidate()  # temporary credentials: ask STS again next time

    async def complete(self, req: ChatRequest, call: Call) -> ChatResponse:
        body = json_encoder.encode(wire.to_converse(req))
        url, headers = await self._post(call.model, "converse", body)
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        try:
            async with post(self._http, url, body, headers, call.timeouts,
                            bedrock_error) as resp:
                raw = await read_body(resp, deadline, self._http.max_response_bytes)
        except ProviderError as e:
            self._auth_failed(e)
            raise
        try:
            return wire.to_response(wire.response_decoder.decode(raw), call.model)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None

    async def stream(self, req: ChatRequest, call: Call) -> AsyncGenerator[ChatChunk, None]:
        body = json_encoder.encode(wire.to_converse(req))
        url, headers = await self._post(call.model, "converse-stream", body, EVENT_STREAM)
        start = asyncio.get_running_loop().time()
        state = wire.StreamState(call.model)
        try:
            async with post(self._http, url, body, headers, call.timeouts,
                            bedrock_error) as resp:
                async for m in event_messages(resp, start + call.timeouts.first_byte,
                                              start + call.timeouts.total,
                                              self._http.max_event_bytes):
                    if m.message_type != "event":  # its message may echo what we sent
                        raise wire.stream_exception(m.event_type,
                                                    without_secrets(m.payload, headers))
                    chunk = state.feed(m.event_type, m.payload)
                    if chunk is not None:
                        yield chunk
                    if state.done:
                        return
        except ProviderError as e:
            self._auth_failed(e)
            raise
        raise ProviderStreamBroken()

    # --- embeddings ----------------------------------------------------------------------

    async def _invoke(self, model: str, payload: dict[str, Any],
                      call: Call) -> tuple[bytes, Mapping[str, str]]:
        body = json_encoder.encode(payload)
        url, headers = await self._post(model, "invoke", body)
        deadline = asyncio.get_running_loop().time() + call.timeouts.total
        try:
            async with post(self._http, url, body, headers, call.timeouts,
                            bedrock_error) as resp:
                return (await read_body(resp, deadline, self._http.max_response_bytes),
                        resp.headers)
        except ProviderError as e:
            self._auth_failed(e)
            raise

    async def _titan(self, text: str, req: EmbeddingRequest, call: Call,
                     gate: asyncio.Semaphore) -> tuple[list[float], int]:
        payload: dict[str, Any] = {"inputText": text}
        if req.dimensions is not None:
            payload["dimensions"] = req.dimensions
        async with gate:
            raw, _ = await self._invoke(call.model, payload, call)
        try:
            out = _titan_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        return out.embedding, out.input_text_token_count

    async def _cohere(self, texts: list[str], req: EmbeddingRequest,
                      call: Call) -> tuple[list[list[float]], int]:
        payload: dict[str, Any] = {"texts": texts, "input_type": "search_document"}
        if req.dimensions is not None:
            payload["output_dimension"] = req.dimensions
        raw, headers = await self._invoke(call.model, payload, call)
        try:
            out = _cohere_decoder.decode(raw).embeddings
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderBadResponse() from None
        vectors = out.floats if isinstance(out, _CohereTyped) else out
        try:
            tokens = int(headers.get("X-Amzn-Bedrock-Input-Token-Count", "0"))
        except ValueError:
            tokens = 0
        return vectors, tokens

    async def embed(self, req: EmbeddingRequest, call: Call) -> EmbeddingResponse:
        texts = req.texts()
        if not texts or len(texts) != (1 if isinstance(req.input, str) else len(req.input)):
            raise ProviderBadRequest("Bedrock embeds text only; send input as strings.")
        model = call.model
        if "titan-embed" in model:
            gate = asyncio.Semaphore(TITAN_PARALLEL)
            pairs = await asyncio.gather(*(self._titan(t, req, call, gate) for t in texts))
            vectors, tokens = [v for v, _ in pairs], sum(n for _, n in pairs)
        elif "cohere.embed" in model:
            vectors, tokens = [], 0
            for i in range(0, len(texts), COHERE_BATCH):
                got, n = await self._cohere(texts[i:i + COHERE_BATCH], req, call)
                vectors.extend(got)
                tokens += n
        else:
            raise ProviderBadRequest("Bedrock embeddings need an amazon.titan-embed-* or "
                                     "cohere.embed-* model.")
        if len(vectors) != len(texts):
            raise ProviderBadResponse()
        b64 = req.encoding_format == "base64"
        data = [Embedding(index=i, embedding=float32_base64(v) if b64 else v)
                for i, v in enumerate(vectors)]
        return EmbeddingResponse(data=data, model=model,
                                 usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens))

    async def aclose(self) -> None:
        await self._http.aclose()


class _Titan(msgspec.Struct, rename="camel"):
    embedding: list[float] = []
    input_text_token_count: int = 0


class _CohereTyped(msgspec.Struct):
    floats: list[list[float]] = msgspec.field(default_factory=list, name="float")


class _Cohere(msgspec.Struct):
    embeddings: list[list[float]] | _CohereTyped = []


_titan_decoder = msgspec.json.Decoder(_Titan)
_cohere_decoder = msgspec.json.Decoder(_Cohere)


def build(name: str, settings: ProviderSettings, key: SecretSource | None,
          ctx: BuildContext) -> Provider:
    """Registry entry (``bastion.providers.bedrock:build``)."""
    assert settings.region is not None  # the settings refuse a bedrock provider without
    http = http_for(settings)
    signer = None
    if key is None:
        keys = None
        if settings.aws_access_key_id and settings.aws_secret_access_key:
            keys = ConfiguredKeys(
                ctx.secret(settings.aws_access_key_id, settings.key_ttl_s),
                ctx.secret(settings.aws_secret_access_key, settings.key_ttl_s),
                ctx.secret(settings.aws_session_token, settings.key_ttl_s)
                if settings.aws_session_token else None)
        chain = AwsCredentialChain(keys, ctx.env, settings.region, http.session)
        ctx.sources.append(chain)
        signer = AwsSigner(chain, settings.region, name)
    return BedrockProvider(name, http, region=settings.region, signer=signer, api_key=key,
                           base_url=settings.base_url, extra_headers=settings.headers)
