"""Resilience admin routes: ``GET /admin/breakers`` (the viewer role).

Answers ``{"shared": bool, "redis_ok": bool|null, "data": [{"target", "state",
"open_for_s", "consecutive_failures", "window": {...}}]}`` for every target the
gateway has called (or configured), as this worker sees it: with Redis, the
shared state as of the last exchange with Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bastion.api.common import json_response
from bastion.api.middleware import add_route

if TYPE_CHECKING:
    from bastion.app import Gateway


class ResilienceAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        add_route(app, "GET", "/admin/breakers", self.gw.admins.route(self.breakers, "viewer"))

    async def breakers(self, request: web.Request) -> web.StreamResponse:
        board = self.gw.route.breakers
        for alias in self.gw.route.aliases.values():
            for t in alias.targets:
                board.get(t.name)  # list configured targets too, closed until used
        body: dict[str, Any] = {"shared": board.shared,
                                "redis_ok": getattr(board, "redis_ok", None),
                                "data": board.snapshot()}
        return json_response(body)
