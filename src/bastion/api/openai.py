"""The OpenAI front door: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from bastion.api.common import (
    decode,
    error_response,
    json_response,
    openai_error_body,
    read_body,
    request_id,
)
from bastion.api.middleware import add_route
from bastion.api.streaming import write_sse
from bastion.api.validate import validate_chat, validate_embeddings
from bastion.core.context import ChunkStream, Context, Reply
from bastion.core.errors import GatewayError, ModelNotFound
from bastion.core.types import (
    ChatResponse,
    EmbeddingResponse,
    chat_request_decoder,
    embedding_request_decoder,
)
from bastion.steps.authenticate import authenticate_client

if TYPE_CHECKING:
    from bastion.app import Gateway

_enc = msgspec.json.Encoder()
DONE = b"data: [DONE]\n\n"


async def openai_sse(ctx: Context, stream: ChunkStream) -> AsyncIterator[bytes]:
    """Canonical chunks as OpenAI SSE frames; a gateway error ends the stream with an
    error frame and ``[DONE]``."""
    want_usage = bool(ctx.chat.stream_options and ctx.chat.stream_options.include_usage)
    async with aclosing(stream):  # type: ignore[type-var]  # a client that left closes it all
        try:
            async for chunk in stream:
                if chunk.usage is not None and not want_usage:
                    if not chunk.choices:
                        continue
                    chunk.usage = None
                yield b"data: " + _enc.encode(chunk) + b"\n\n"
        except GatewayError as e:
            yield b"data: " + _enc.encode(openai_error_body(e)) + b"\n\n"
    yield DONE


def wire_body(resp: ChatResponse | EmbeddingResponse | None) -> bytes:
    """The JSON of a whole answer. A message without text (tool calls only) says
    ``"content": null`` as OpenAI does; canonical messages omit unset fields, so only
    those rare answers take the slower path that writes it."""
    if not isinstance(resp, ChatResponse) or all(
            c.message.content is not None for c in resp.choices):
        return _enc.encode(resp)
    body = msgspec.to_builtins(resp)
    for choice in body["choices"]:
        choice["message"].setdefault("content", None)
    return _enc.encode(body)


class OpenAIRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "POST", "/v1/chat/completions", self.chat)
        add_route(app, "POST", "/chat/completions", self.chat)
        add_route(app, "POST", "/v1/embeddings", self.embeddings)
        add_route(app, "POST", "/embeddings", self.embeddings)
        add_route(app, "GET", "/v1/models", self.models)
        add_route(app, "GET", "/v1/models/{model}", self.model)

    async def _body(self, request: web.Request) -> bytes:
        server = self.gw.settings.server
        return await read_body(request, server.max_body_bytes, server.body_timeout_s)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        try:
            body = await self._body(request)
            req = decode(body, chat_request_decoder.decode)
            validate_chat(req)
            ctx = Context(request=req, request_id=rid, headers=request.headers,
                          client_ip=request.remote, body_bytes=len(body))
            reply = await self.gw.pipeline(ctx)
        except GatewayError as e:
            return error_response(e, rid)
        return await self.render(request, ctx, reply)

    async def render(self, request: web.Request, ctx: Context, reply: Reply) -> web.StreamResponse:
        headers = {"x-request-id": ctx.request_id, **ctx.response_headers, **reply.headers}
        if reply.stream is not None:
            return await write_sse(request, headers, openai_sse(ctx, reply.stream))
        return web.Response(body=wire_body(reply.response), headers=headers,
                            content_type="application/json")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        try:
            body = await self._body(request)
            req = decode(body, embedding_request_decoder.decode)
            validate_embeddings(req)
            ctx = Context(request=req, request_id=rid, kind="embeddings",
                          headers=request.headers, client_ip=request.remote,
                          body_bytes=len(body))
            reply = await self.gw.pipeline(ctx)
        except GatewayError as e:
            return error_response(e, rid)
        return await self.render(request, ctx, reply)

    async def _allowed(self, request: web.Request) -> list[str]:
        ident = await authenticate_client(self.gw.callers, self.gw.auth_throttle, request.remote,
                                          request.headers, request.path)
        return [a for a in self.gw.settings.models if ident.may_use(a)]

    async def models(self, request: web.Request) -> web.StreamResponse:
        """The aliases this key may use: OpenAI's list, or Anthropic's when the request
        looks like an Anthropic client's (``anthropic-version`` or ``x-api-key``)."""
        rid = request_id(request)
        try:
            names = await self._allowed(request)
        except GatewayError as e:
            return error_response(e, rid, _shape(request))
        if _shape(request) == "anthropic":
            data = [anthropic_model(n) for n in names]
            return json_response({"data": data, "has_more": False,
                                  "first_id": names[0] if names else None,
                                  "last_id": names[-1] if names else None})
        now = int(time.time())
        return json_response({"object": "list", "data": [
            {"id": n, "object": "model", "created": now, "owned_by": "bastion"} for n in names]})

    async def model(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        name = request.match_info["model"]
        try:
            if name not in await self._allowed(request):
                raise ModelNotFound(f"The model {name!r} is not available to this key.")
        except GatewayError as e:
            return error_response(e, rid, _shape(request))
        if _shape(request) == "anthropic":
            return json_response(anthropic_model(name))
        return json_response({"id": name, "object": "model", "created": int(time.time()),
                              "owned_by": "bastion"})


def _shape(request: web.Request) -> str:
    h = request.headers
    return "anthropic" if "anthropic-version" in h or "x-api-key" in h else "openai"


_EPOCH = "1970-01-01T00:00:00Z"  # aliases have no release date; a fixed, valid instant


def anthropic_model(alias: str) -> dict[str, object]:
    """An alias as Anthropic's ``model`` object."""
    return {"type": "model", "id": alias, "display_name": alias, "created_at": _EPOCH,
            "lifecycle": "active"}
