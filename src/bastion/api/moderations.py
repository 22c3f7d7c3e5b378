"""``POST /v1/moderations``: answered by the configured :class:`Moderator`.

The caller needs a valid virtual key (any scope). The request is logged like
every other (method, path, status; never the text). A provider's refusal of the
request is 400 ``upstream_rejected``; a provider that fails is 503
``upstream_unavailable``. Without ``moderations.target`` the gateway's local detector
answers; a gateway built without any moderator answers 501 ``not_configured``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from bastion.api.common import decode, error_response, json_response, read_body, request_id
from bastion.api.middleware import add_route
from bastion.core.errors import (
    GatewayError,
    InvalidRequest,
    NotConfigured,
    ProviderBadRequest,
    ProviderError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from bastion.providers.moderation import ModerationRequest, Moderator
from bastion.steps.authenticate import authenticate_client

if TYPE_CHECKING:
    from bastion.app import Gateway

_decoder = msgspec.json.Decoder(ModerationRequest)
NOT_CONFIGURED = ("No moderation model is configured on this gateway. Set "
                  "`moderations.target` in the config to an OpenAI or OpenAI-compatible "
                  "provider's moderation model, e.g. `openai/omni-moderation-latest`.")


class ModerationRoutes:
    def __init__(self, gateway: Gateway, moderator: Moderator | None) -> None:
        self.gw = gateway
        self.moderator = moderator

    def register(self, app: web.Application) -> None:
        add_route(app, "POST", "/v1/moderations", self.moderate)
        add_route(app, "POST", "/moderations", self.moderate)

    async def moderate(self, request: web.Request) -> web.StreamResponse:
        rid = request_id(request)
        started = time.monotonic()
        status, code = 200, None
        try:
            await authenticate_client(self.gw.callers, self.gw.auth_throttle, request.remote,
                                      request.headers, request.path)
            server = self.gw.settings.server
            body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
            req = decode(body, _decoder.decode)
            if not req.input:
                raise InvalidRequest("`input` must not be empty.", param="input")
            if self.moderator is None:
                raise NotConfigured(NOT_CONFIGURED)
            try:
                out = await self.moderator.moderate(req)
            except ProviderBadRequest as e:
                raise UpstreamRejected(e.message) from None
            except ProviderError:
                raise UpstreamUnavailable(retry_after_s=5.0) from None
            return json_response(out, headers={"x-request-id": rid})
        except GatewayError as e:
            status, code = e.status, e.code
            return error_response(e, rid)
        finally:
            self.gw.recorder.route_line(rid, request.method, request.path, status,
                                        time.monotonic() - started, code)
