"""Resilience admin routes: ``GET /admin/breakers`` (needs the master key).

Answers ``{"shared": bool, "redis_ok": bool|null, "data": [{"target", "state",
"open_for_s", "consecutive_failures", "window": {...}}]}`` for every target the
gateway has called (or configured), as this worker sees it: with Redis, the
shared state as of the last exchange with Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api.common import error_response, json_response, request_id
from bastion.api.middleware import add_route
from bastion.core.errors import GatewayError

if TYPE_CHECKING:
    from bastion.app import Gateway


class ResilienceAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "GET", "/admin/breakers", self.breakers)

    async def breakers(self, request: web.Request) -> web.StreamResponse:
        try:
            await self.gw.check_master_key(request)
        except GatewayError as e:
            return error_response(e, request_id(request))
        board = self.gw.route.breakers
        for alias in self.gw.route.aliases.values():
            for t in alias.targets:
                board.get(t.name)  # list configured targets too, closed until used
        body: dict[str, Any] = {"shared": board.shared,
                                "redis_ok": getattr(board, "redis_ok", None),
                                "data": board.snapshot()}
        return json_response(body)
