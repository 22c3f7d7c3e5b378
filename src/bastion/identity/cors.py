"""CORS for browser clients that call the gateway with their users' JWTs.

Each issuer lists the web origins its tokens may be used from
(``auth.jwt[].cors.allow_origins``). A browser's preflight (``OPTIONS`` on a
``/v1/…`` path) carries no token, so it is answered for any origin some issuer
lists; the request that follows is then held to its own issuer's list (403
``origin_not_allowed`` otherwise, in :mod:`bastion.identity.jwt_auth`).
Answers to allowed origins, errors included, carry
``Access-Control-Allow-Origin`` and expose the headers a client reads
(request id, ``Retry-After``, rate-limit headers, degraded and cache markers).
Credentials (cookies) are never allowed: the token travels in a header.

Nothing is registered when no issuer configures CORS, so server-side traffic
pays nothing for it.
"""

from __future__ import annotations

import re

from aiohttp import web

from bastion.api.common import error_response, request_id
from bastion.config.auth_settings import AuthSettings
from bastion.core.errors import OriginNotAllowed

EXPOSED = ", ".join((
    "x-request-id", "retry-after", "x-bastion-degraded", "x-bastion-cache",
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"))
_HEADER_LIST = re.compile(r"^[A-Za-z0-9\-, ]{0,2000}$")


class Cors:
    """Preflight answers and response headers for the origins issuers allow."""

    def __init__(self, settings: AuthSettings) -> None:
        self.max_age: dict[str, int] = {}
        for issuer in settings.jwt:
            if issuer.cors is not None:
                for origin in issuer.cors.allow_origins:
                    self.max_age[origin] = max(self.max_age.get(origin, 0),
                                               issuer.cors.max_age_s)

    def register(self, app: web.Application) -> None:
        """The preflight route and the response hook (before the catch-all route)."""
        if not self.max_age:
            return
        app.router.add_route("OPTIONS", "/v1/{tail:.*}", self.preflight)
        app.on_response_prepare.append(self.on_prepare)

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("origin")
        if origin is None or origin not in self.max_age:
            return error_response(OriginNotAllowed("This web origin may not call the "
                                                   "gateway."), request_id(request))
        asked = request.headers.get("access-control-request-headers", "")
        headers = {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "GET, POST, OPTIONS",
            # The SDKs send their own headers (x-stainless-*, anthropic-version): the
            # ones asked for are allowed, as long as they are header names.
            "access-control-allow-headers": asked if _HEADER_LIST.match(asked) else
            "authorization, content-type, x-api-key",
            "access-control-max-age": str(self.max_age[origin]),
            "vary": "origin, access-control-request-headers",
        }
        return web.Response(status=204, headers=headers)

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("origin")
        if (origin is not None and origin in self.max_age and request.method != "OPTIONS"
                and request.path.startswith("/v1/")):
            response.headers["access-control-allow-origin"] = origin
            response.headers["access-control-expose-headers"] = EXPOSED
            response.headers.add("vary", "origin")
