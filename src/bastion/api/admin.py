"""The admin API under ``/admin/``; every route needs the master key."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from bastion.api.common import decode, error_response, json_response, read_body, request_id
from bastion.core.errors import GatewayError, InvalidRequest
from bastion.stores.base import KeyRecord

if TYPE_CHECKING:
    from bastion.app import Gateway

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CreateKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    user: str | None = None
    team: str | None = None
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    expires_in_s: float | None = None


class RotateKey(msgspec.Struct, forbid_unknown_fields=True):
    grace_s: float = 3600.0


def key_view(rec: KeyRecord) -> dict[str, Any]:
    """A key's record as the API shows it: never a secret or a hash."""
    return dataclasses.asdict(rec)


class AdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            rid = request_id(request)
            try:
                await self.gw.check_master_key(request)
                return await handler(request)
            except GatewayError as e:
                return error_response(e, rid)

        return guarded

    def register(self, app: web.Application) -> None:
        g = self._guard
        app.router.add_post("/admin/keys", g(self.create_key))
        app.router.add_get("/admin/keys", g(self.list_keys))
        app.router.add_delete("/admin/keys/{id}", g(self.revoke_key))
        app.router.add_post("/admin/keys/{id}/rotate", g(self.rotate_key))
        app.router.add_get("/admin/keys/{id}/usage", g(self.key_usage))
        app.router.add_get("/admin/users/{user}/data", g(self.user_data))
        app.router.add_delete("/admin/users/{user}/data", g(self.delete_user))

    async def create_key(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request, 65536)
        spec = decode(body, msgspec.json.Decoder(CreateKey).decode)
        if not spec.name.strip():
            raise InvalidRequest("Give the key a `name`.", param="name")
        for field in ("rpm", "tpm", "budget_usd", "expires_in_s"):
            v = getattr(spec, field)
            if v is not None and v <= 0:
                raise InvalidRequest(f"`{field}` must be positive.", param=field)
        unknown = [m for m in spec.models or [] if m not in self.gw.route.aliases]
        if unknown:
            raise InvalidRequest(f"Unknown model aliases: {', '.join(unknown)}.", param="models")
        new = await self.gw.keys.create(**msgspec.structs.asdict(spec))
        return json_response({**key_view(new.record), "key": new.key}, status=201)

    async def list_keys(self, request: web.Request) -> web.StreamResponse:
        return json_response({"data": [key_view(r) for r in await self.gw.keys.list()]})

    async def revoke_key(self, request: web.Request) -> web.StreamResponse:
        await self.gw.keys.revoke(request.match_info["id"])
        return json_response({"id": request.match_info["id"], "revoked": True})

    async def rotate_key(self, request: web.Request) -> web.StreamResponse:
        spec = RotateKey()
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                spec = decode(raw, msgspec.json.Decoder(RotateKey).decode)
        new = await self.gw.keys.rotate(request.match_info["id"], spec.grace_s)
        return json_response({**key_view(new.record), "key": new.key,
                              "old_key_valid_for_s": spec.grace_s})

    async def key_usage(self, request: web.Request) -> web.StreamResponse:
        await self.gw.keys.get(request.match_info["id"])
        await self.gw.recorder.flush()
        totals = await self.gw.db.usage_totals(request.match_info["id"])
        return json_response(dataclasses.asdict(totals))

    async def user_data(self, request: web.Request) -> web.StreamResponse:
        await self.gw.recorder.flush()
        user = request.match_info["user"]
        rows = await self.gw.db.usage_for_user(user)
        keys = [key_view(k) for k in await self.gw.keys.list() if k.user == user]
        return json_response({"user": user, "keys": keys,
                              "usage": [dataclasses.asdict(r) for r in rows]})

    async def delete_user(self, request: web.Request) -> web.StreamResponse:
        await self.gw.recorder.flush()
        n = await self.gw.db.delete_user(request.match_info["user"])
        # Cached identities still carry the user; without this, requests within the cache
        # TTL would tie new usage rows to the person just erased.
        self.gw.keys.forget_cached()
        return json_response({"user": request.match_info["user"], "deleted_usage_rows": n})
