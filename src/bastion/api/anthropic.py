"""The Anthropic front door: ``POST /v1/messages`` and ``/v1/messages/count_tokens``.

The official ``anthropic`` SDK works against it with ``base_url`` set to the
gateway and a virtual key (``x-api-key`` or ``Authorization: Bearer``). The
request is translated to the canonical one (:mod:`bastion.api.anthropic_translate`),
goes down the same pipeline as OpenAI requests, and the answer comes back as an
Anthropic ``message`` or event stream (:mod:`bastion.api.anthropic_stream`).
Errors are Anthropic-shaped and keep the gateway's stable ``code``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.anthropic_stream import anthropic_sse
from bastion.api.anthropic_translate import to_anthropic, to_canonical, validate
from bastion.api.anthropic_wire import (
    AnthropicChannel,
    MessagesRequest,
    channel,
    encoder,
    request_decoder,
)
from bastion.api.common import decode, error_response, json_response, read_body, request_id
from bastion.api.middleware import add_route
from bastion.api.streaming import write_sse
from bastion.core.context import Context, Reply
from bastion.core.errors import GatewayError
from bastion.providers.fake import estimate_tokens
from bastion.steps.authenticate import authenticate_client, check_alias

if TYPE_CHECKING:
    from bastion.app import Gateway

_SHAPE = "anthropic"


class AnthropicRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "POST", "/v1/messages", self.messages)
        add_route(app, "POST", "/v1/messages/count_tokens", self.count_tokens)

    async def _read(self, request: web.Request) -> tuple[MessagesRequest, int]:
        server = self.gw.settings.server
        body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
        return decode(body, request_decoder.decode), len(body)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        try:
            areq, size = await self._read(request)
            validate(areq)
            req, ch = to_canonical(areq)
            ch.betas = request.headers.get("anthropic-beta")
            ctx = Context(request=req, request_id=rid, dialect="anthropic",
                          headers=request.headers, client_ip=request.remote,
                          body_bytes=size)
            ctx.state["anthropic"] = ch  # visible to steps (e.g. a cache key) as well
        except GatewayError as e:
            return error_response(e, rid, _SHAPE)
        alias = req.model
        token = channel.set(ch)
        try:
            try:
                reply = await self.gw.pipeline(ctx)
            except GatewayError as e:
                return error_response(e, rid, _SHAPE)
            return await self._render(request, ctx, reply, alias, ch)
        finally:
            channel.reset(token)

    async def _render(self, request: web.Request, ctx: Context, reply: Reply, alias: str,
                      ch: AnthropicChannel) -> web.StreamResponse:
        headers = {"x-request-id": ctx.request_id, **ctx.response_headers, **reply.headers}
        if reply.stream is not None:
            return await write_sse(request, headers, anthropic_sse(reply.stream, alias, ch))
        return web.Response(body=encoder.encode(to_anthropic(reply.chat, alias, ch)),
                            headers=headers, content_type="application/json")

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        """An estimate (about four characters a token) of the request's input tokens."""
        rid = request_id(request)
        try:
            ident = await authenticate_client(self.gw.callers, self.gw.auth_throttle,
                                              request.remote, request.headers, request.path)
            areq, _size = await self._read(request)
            check_alias(ident, areq.model, self.gw.settings.models)
            req, _ = to_canonical(areq)
        except GatewayError as e:
            return error_response(e, rid, _SHAPE)
        text = "\n".join(m.text() for m in req.messages)
        tools = encoder.encode(req.tools).decode() if req.tools else ""
        return json_response({"input_tokens": estimate_tokens(text) + estimate_tokens(tools)},
                             headers={"x-request-id": rid})
