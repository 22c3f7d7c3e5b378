"""``/healthz`` (the process answers), ``/readyz`` (its stores answer), ``/metrics``.

``/readyz`` names the configured providers only to a caller with the master key
(an unauthenticated probe learns "ready" or "not ready", nothing about the setup).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bastion.api.common import json_response
from bastion.api.middleware import add_route
from bastion.core.errors import GatewayError

if TYPE_CHECKING:
    from bastion.app import Gateway


class HealthRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "GET", "/healthz", self.healthz)
        add_route(app, "GET", "/readyz", self.readyz)
        add_route(app, "GET", "/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        if not self.gw.db_opener.ready:  # started without its database; still trying
            return json_response({"status": "not_ready", "database": "unreachable"}, 503,
                                 headers={"Retry-After": "2"})
        try:
            await self.gw.db.meta_get_or_set("ready_probe", "1")
        except Exception as e:  # noqa: BLE001 - any store failure means "not ready"
            return json_response({"status": "not_ready", "database": type(e).__name__}, 503)
        body: dict[str, object] = {"status": "ready"}
        if "authorization" in request.headers:
            try:
                await self.gw.check_master_key(request)
            except GatewayError:
                pass  # a probe stays a probe: ready, without the details
            else:
                body["providers"] = sorted(self.gw.providers)
        return json_response(body)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        body = self.gw.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
