"""The admin API under ``/admin/``: every route needs an admin credential holding its
role (see :mod:`bastion.identity.admins`), and every action is audited."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from bastion.api.common import decode, json_response, read_body
from bastion.api.middleware import add_route
from bastion.core.errors import InvalidRequest, NotFound
from bastion.identity.admins import audit_detail
from bastion.stores.base import KeyRecord

if TYPE_CHECKING:
    from bastion.app import Gateway

# Bounds on what an operator may set: beyond them a value is a typo (or an attack on the
# stores: a number past 64 bits, a NUL in a name), never a wish.
MAX_LIMIT = 1_000_000_000  # rpm / tpm
MAX_BUDGET_USD = 1e9
MAX_EXPIRES_S = 100 * 365 * 86400.0
MAX_GRACE_S = 365 * 86400.0
MAX_LABEL = 200  # characters in a key's name, user or team
MAX_ID = 128


class CreateKey(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    user: str | None = None
    team: str | None = None
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    expires_in_s: float | None = None
    act_for_users: bool = False  # may name its end user per request (x-bastion-user)


class KeyLimits(msgspec.Struct, forbid_unknown_fields=True):
    """A key's new limits; a field left out is kept, ``null`` removes the limit."""

    rpm: int | msgspec.UnsetType | None = msgspec.UNSET
    tpm: int | msgspec.UnsetType | None = msgspec.UNSET
    budget_usd: float | msgspec.UnsetType | None = msgspec.UNSET


class RotateKey(msgspec.Struct, forbid_unknown_fields=True):
    grace_s: float = 3600.0


_create_decoder = msgspec.json.Decoder(CreateKey)
_rotate_decoder = msgspec.json.Decoder(RotateKey)
_limits_decoder = msgspec.json.Decoder(KeyLimits)


def check_create(spec: CreateKey, aliases: Iterable[str]) -> None:
    """Refuse what no operator means: blank or unprintable labels, absurd numbers."""
    if not spec.name.strip():
        raise InvalidRequest("Give the key a `name`.", param="name")
    for field in ("name", "user", "team"):
        v = getattr(spec, field)
        if v is not None and (len(v) > MAX_LABEL or not v.isprintable()):
            raise InvalidRequest(f"`{field}` must be at most {MAX_LABEL} printable characters.",
                                 param=field)
    for field, most in (("rpm", MAX_LIMIT), ("tpm", MAX_LIMIT),
                        ("budget_usd", MAX_BUDGET_USD), ("expires_in_s", MAX_EXPIRES_S)):
        v = getattr(spec, field)
        if v is not None and not 0 < v <= most:
            raise InvalidRequest(f"`{field}` must be positive and at most {most:,.0f}.",
                                 param=field)
    known = set(aliases)
    unknown = [m for m in spec.models or [] if m not in known]
    if unknown:
        shown = ", ".join(repr(m[:60]) for m in unknown[:5])
        raise InvalidRequest(f"Unknown model aliases: {shown}.", param="models")


def key_id(request: web.Request) -> str:
    """The ``{id}`` of the path; an id no key could have is simply not found."""
    kid = request.match_info["id"]
    if len(kid) > MAX_ID or not kid.isprintable():
        raise NotFound("No key with that id.")
    return kid


def key_view(rec: KeyRecord) -> dict[str, Any]:
    """A key's record as the API shows it: never a secret or a hash."""
    return dataclasses.asdict(rec)


class AdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        g = self.gw.admins.route  # each route: the role it needs, its audit action
        add_route(app, "POST", "/admin/keys", g(self.create_key, "operator", "key.create"))
        add_route(app, "GET", "/admin/keys", g(self.list_keys, "viewer"))
        add_route(app, "DELETE", "/admin/keys/{id}", g(self.revoke_key, "operator",
                                                       "key.revoke"))
        add_route(app, "POST", "/admin/keys/{id}/rotate", g(self.rotate_key, "operator",
                                                            "key.rotate"))
        add_route(app, "PATCH", "/admin/keys/{id}", g(self.update_key, "operator",
                                                      "key.update"))
        add_route(app, "GET", "/admin/keys/{id}/usage", g(self.key_usage, "viewer"))
        add_route(app, "GET", "/admin/users/{user}/data", g(self.user_data, "admin",
                                                            "user.export"))
        add_route(app, "DELETE", "/admin/users/{user}/data", g(self.delete_user, "admin",
                                                               "user.erase"))

    async def create_key(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request, 65536, self.gw.settings.server.body_timeout_s)
        spec = decode(body, _create_decoder.decode)
        check_create(spec, self.gw.settings.models)
        new = await self.gw.keys.create(**msgspec.structs.asdict(spec))
        audit_detail(request, target=new.record.id, models=spec.models, rpm=spec.rpm,
                     tpm=spec.tpm, budget_usd=spec.budget_usd, expires_in_s=spec.expires_in_s,
                     act_for_users=spec.act_for_users)
        return json_response({**key_view(new.record), "key": new.key}, status=201)

    async def list_keys(self, request: web.Request) -> web.StreamResponse:
        return json_response({"data": [key_view(r) for r in await self.gw.keys.list()]})

    async def revoke_key(self, request: web.Request) -> web.StreamResponse:
        kid = key_id(request)
        await self.gw.keys.revoke(kid)
        return json_response({"id": kid, "revoked": True})

    async def rotate_key(self, request: web.Request) -> web.StreamResponse:
        kid = key_id(request)
        spec = RotateKey()
        raw = await read_body(request, 65536, self.gw.settings.server.body_timeout_s,
                              empty_ok=True)
        if raw.strip():
            spec = decode(raw, _rotate_decoder.decode)
        if not 0 <= spec.grace_s <= MAX_GRACE_S:
            raise InvalidRequest(f"`grace_s` must be between 0 and {MAX_GRACE_S:,.0f} seconds.",
                                 param="grace_s")
        new = await self.gw.keys.rotate(kid, spec.grace_s)
        audit_detail(request, grace_s=spec.grace_s)
        return json_response({**key_view(new.record), "key": new.key,
                              "old_key_valid_for_s": spec.grace_s})

    async def update_key(self, request: web.Request) -> web.StreamResponse:
        """Change a key's ``rpm``, ``tpm`` or ``budget_usd`` (audited with old and new)."""
        kid = key_id(request)
        body = await read_body(request, 65536, self.gw.settings.server.body_timeout_s)
        changes = {k: v for k, v in msgspec.structs.asdict(decode(
            body, _limits_decoder.decode)).items() if v is not msgspec.UNSET}
        for field, most in (("rpm", MAX_LIMIT), ("tpm", MAX_LIMIT),
                            ("budget_usd", MAX_BUDGET_USD)):
            v = changes.get(field)
            if v is not None and not 0 < v <= most:
                raise InvalidRequest(f"`{field}` must be positive and at most {most:,.0f}.",
                                     param=field)
        old = await self.gw.keys.get(kid)
        rec = await self.gw.keys.update_limits(kid, changes)
        audit_detail(request, **{f"{k}_before": getattr(old, k) for k in changes}, **changes)
        return json_response(key_view(rec))

    async def key_usage(self, request: web.Request) -> web.StreamResponse:
        kid = key_id(request)
        await self.gw.keys.get(kid)
        await self.gw.recorder.flush()
        totals = await self.gw.db.usage_totals(kid)
        return json_response(dataclasses.asdict(totals))

    async def user_data(self, request: web.Request) -> web.StreamResponse:
        user = _user(request)
        data = await self.gw.privacy.subjects.export(user)
        audit_detail(request, **{k: len(v) for k, v in data.items() if isinstance(v, list)})
        return json_response(data)

    async def delete_user(self, request: web.Request) -> web.StreamResponse:
        user = _user(request)
        done = await self.gw.privacy.subjects.erase(user)
        audit_detail(request, **done["deleted"])
        return json_response({**done, "deleted_usage_rows": done["deleted"]["usage_rows"]})


def _user(request: web.Request) -> str:
    """The ``{user}`` of the path; one no user could have is refused."""
    user = request.match_info["user"]
    if not user or len(user) > MAX_LABEL or not user.isprintable():
        raise InvalidRequest(f"A user id is 1 to {MAX_LABEL} printable characters.",
                             param="user")
    return user
