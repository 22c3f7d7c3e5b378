"""``POST /admin/reload`` (the ``admin`` role): re-read the config file now.

Answers ``{"status": "reloaded"|"unchanged", "generation": n, "restart_needed": [...]}``,
or ``422 invalid_config`` with ``check-config``'s messages when the file is not valid
(the running configuration stays). With several workers, the others are asked to
reload too. See :mod:`bastion.reload`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bastion.api.common import error_response, json_response, request_id
from bastion.api.middleware import add_route
from bastion.core.errors import GatewayError
from bastion.identity.admins import ACTOR
from bastion.reload import reload_config

if TYPE_CHECKING:
    from bastion.app import Gateway


class ReloadAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        # Audited by reload_config itself (with the result), not by the route guard.
        add_route(app, "POST", "/admin/reload", self.gw.admins.route(self.reload, "admin"))

    async def reload(self, request: web.Request) -> web.StreamResponse:
        try:
            result = await reload_config(self.gw, request[ACTOR], request.remote)
        except GatewayError as e:
            return error_response(e, request_id(request))
        if self.gw.reload_peers is not None:
            self.gw.reload_peers()
        return json_response(result.as_dict())
