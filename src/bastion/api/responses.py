"""The Responses API front door: ``POST /v1/responses``.

The request is translated to the canonical chat request
(:mod:`bastion.api.responses_translate`), so it goes down the same pipeline as
every other request (keys, limits, guards, cache, routing) and reaches every
provider kind; the answer comes back as a ``response`` object or as the
Responses event stream (:mod:`bastion.api.responses_stream`).

The gateway keeps no conversation state: ``previous_response_id`` is refused with
a 400 that says to send the history in ``input``, ``store`` is ignored (answers
say ``"store": false``), and ``GET``/``DELETE /v1/responses/{id}`` answer 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.common import decode, error_response, read_body, request_id
from bastion.api.middleware import add_route
from bastion.api.responses_stream import responses_sse
from bastion.api.responses_translate import echo, now, response_id, to_canonical, to_response
from bastion.api.responses_wire import encoder, request_decoder
from bastion.api.streaming import write_sse
from bastion.api.validate import validate_chat
from bastion.core.context import Context
from bastion.core.errors import GatewayError, NotFound

if TYPE_CHECKING:
    from bastion.app import Gateway


class ResponsesRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        for prefix in ("/v1", ""):
            add_route(app, "POST", f"{prefix}/responses", self.create)
            add_route(app, "GET", f"{prefix}/responses/{{rid}}", self.stored)
            add_route(app, "DELETE", f"{prefix}/responses/{{rid}}", self.stored)

    async def create(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        server = self.gw.settings.server
        try:
            body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
            rreq = decode(body, request_decoder.decode)
            req = to_canonical(rreq)
            validate_chat(req)
            ctx = Context(request=req, request_id=rid, dialect="responses",
                          headers=request.headers, client_ip=request.remote,
                          body_bytes=len(body))
            reply = await self.gw.pipeline(ctx)
        except GatewayError as e:
            return error_response(e, rid)
        headers = {"x-request-id": rid, **ctx.response_headers, **reply.headers}
        base = echo(rreq, response_id(), now())
        if reply.stream is not None:
            return await write_sse(request, headers, responses_sse(reply.stream, base))
        return web.Response(body=encoder.encode(to_response(reply.chat, base)),
                            headers=headers, content_type="application/json")

    async def stored(self, request: web.Request) -> web.StreamResponse:
        raise NotFound("This gateway keeps no responses: it answers each request and "
                       "forgets it. Send the whole conversation in `input` instead of "
                       "referring to an earlier response.")
