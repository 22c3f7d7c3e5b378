"""Admin routes of the identity part: sign-in, accounts, API tokens, the audit log.

========================================  ========  ====================
route                                     role      audit action
========================================  ========  ====================
``POST /admin/login``                     (none)    login.ok / login.failed
``POST /admin/logout``                    viewer    session.end
``GET /admin/whoami``                     viewer
``POST /admin/password``                  viewer    account.password
``POST /admin/tokens``                    viewer    token.create
``GET /admin/tokens``                     viewer
``DELETE /admin/tokens/{id}``             viewer    token.revoke
``POST /admin/accounts``                  admin     account.create
``GET /admin/accounts``                   admin
``PATCH /admin/accounts/{name}``          admin     account.update
``DELETE /admin/accounts/{name}``         admin     account.disable
``GET /admin/audit``                      admin     audit.export
========================================  ========  ====================

A viewer, reviewer or operator manages only its own tokens; an admin (or the
master key) may mint, list and revoke anyone's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from bastion.api.common import decode, error_response, json_response, read_body, request_id
from bastion.api.middleware import add_route
from bastion.core.errors import (
    GatewayError,
    InsufficientRole,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
)
from bastion.identity.account_store import Account
from bastion.identity.accounts import check_role
from bastion.identity.admins import ACTOR, audit_detail
from bastion.identity.audit import parse_when, to_csv, to_jsonl
from bastion.identity.roles import Actor

if TYPE_CHECKING:
    from bastion.app import Gateway

_BODY_MAX = 16384


class Login(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    password: str


class NewAccount(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: str
    password: str


class AccountChange(msgspec.Struct, forbid_unknown_fields=True):
    role: str | None = None
    password: str | None = None
    disabled: bool | None = None


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current: str
    new: str


class NewToken(msgspec.Struct, forbid_unknown_fields=True):
    role: str | None = None
    expires_in_s: float | None = None
    label: str | None = None
    account: str | None = None  # admins only: mint for another account


class IdentityAdminRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.accounts = gateway.admins.accounts
        self.audit = gateway.admins.audit

    def register(self, app: web.Application) -> None:
        g = self.gw.admins.route
        add_route(app, "POST", "/admin/login", self.login)
        add_route(app, "POST", "/admin/logout", g(self.logout, "viewer", "session.end"))
        add_route(app, "GET", "/admin/whoami", g(self.whoami, "viewer"))
        add_route(app, "POST", "/admin/password", g(self.password, "viewer",
                                                    "account.password"))
        add_route(app, "POST", "/admin/tokens", g(self.mint, "viewer", "token.create"))
        add_route(app, "GET", "/admin/tokens", g(self.tokens, "viewer"))
        add_route(app, "DELETE", "/admin/tokens/{id}", g(self.revoke, "viewer",
                                                         "token.revoke"))
        add_route(app, "POST", "/admin/accounts", g(self.create, "admin", "account.create"))
        add_route(app, "GET", "/admin/accounts", g(self.list_accounts, "admin"))
        add_route(app, "PATCH", "/admin/accounts/{name}", g(self.update, "admin",
                                                            "account.update"))
        add_route(app, "DELETE", "/admin/accounts/{name}", g(self.disable, "admin",
                                                             "account.disable"))
        add_route(app, "GET", "/admin/audit", g(self.export, "admin", "audit.export"))

    async def _body(self, request: web.Request, empty_ok: bool = False) -> bytes:
        return await read_body(request, _BODY_MAX, self.gw.settings.server.body_timeout_s,
                               empty_ok=empty_ok)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """A session token for a name and password (no other credential needed)."""
        throttle = self.gw.auth_throttle  # password guesses count like key guesses
        addr = throttle.address(request.remote, request.headers)
        try:
            throttle.check(addr)
            spec = decode(await self._body(request), msgspec.json.Decoder(Login).decode)
            session = await self.accounts.login(spec.name, spec.password)
            if session is None:
                throttle.failed(addr, "password", request.path)
                # Only a name that is an account is written down: people type passwords
                # into name fields.
                try:
                    who = "account:" + (await self.accounts.get(spec.name[:64])).name
                except NotFound:
                    who = "unknown"
                await self.audit.record(who, "login.failed", source=request.remote)
                raise InvalidCredentials()
        except GatewayError as e:
            return error_response(e, request_id(request))
        rec = session.record
        await self.audit.record("account:" + rec.account, "login.ok", rec.id,
                                source=request.remote)
        return json_response({"token": session.token, "id": rec.id, "account": rec.account,
                              "role": rec.role, "expires_at": rec.expires_at})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        actor = request[ACTOR]
        if actor.token_id is None:
            raise NotFound("Only a session or an account's token can be ended.")
        await self.accounts.revoke(actor.token_id)
        audit_detail(request, target=actor.token_id)
        return json_response({"id": actor.token_id, "revoked": True})

    async def whoami(self, request: web.Request) -> web.StreamResponse:
        actor = request[ACTOR]
        return json_response({"actor": actor.id, "role": actor.role, "via": actor.via,
                              "account": actor.account, "token_id": actor.token_id,
                              "grants": sorted(actor.grants)})

    async def password(self, request: web.Request) -> web.StreamResponse:
        """Change one's own password (every session and token of the account ends)."""
        actor = request[ACTOR]
        spec = decode(await self._body(request), msgspec.json.Decoder(PasswordChange).decode)
        if actor.account is None:
            raise NotFound("Only an account has a password.")
        if await self.accounts.verify_password(actor.account, spec.current) is None:
            raise InvalidCredentials("The current password is wrong.")
        await self.accounts.update(actor.account, password=spec.new)
        audit_detail(request, target="account:" + actor.account)
        return json_response({"account": actor.account, "password_changed": True})

    def _own(self, actor: Actor, account: str | None) -> str | None:
        """The account ``actor`` may act on: its own, or (admins) the one it names."""
        if account is not None and account != actor.account:
            if not actor.may("admin"):
                raise InsufficientRole("Only an admin may manage another account's tokens.")
            return account
        return actor.account

    async def mint(self, request: web.Request) -> web.StreamResponse:
        actor = request[ACTOR]
        raw = await self._body(request, empty_ok=True)
        spec = decode(raw, msgspec.json.Decoder(NewToken).decode) if raw.strip() else \
            NewToken()
        name = self._own(actor, spec.account)
        if name is None:
            raise NotFound("Name the `account` the token is for.")
        account: Account = await self.accounts.get(name)
        # Never more than the minting actor holds itself.
        role = check_role(spec.role) if spec.role else (
            actor.role if actor.account == account.name else account.role)
        if not actor.may(role):
            raise InsufficientRole(f"You cannot mint a {role} token with the {actor.role} "
                                   "role.")
        new = await self.accounts.mint(account, role=role, ttl_s=spec.expires_in_s,
                                       label=spec.label)
        audit_detail(request, target=new.record.id, account=account.name, role=role,
                     expires_at=new.record.expires_at)
        return json_response({**new.record.view(), "token": new.token}, status=201)

    async def tokens(self, request: web.Request) -> web.StreamResponse:
        actor = request[ACTOR]
        asked = request.query.get("account")
        account = self._own(actor, asked) if asked or not actor.may("admin") else None
        if account is None and not actor.may("admin"):
            return json_response({"data": []})
        return json_response({"data": [t.view() for t in await self.accounts.tokens(account)]})

    async def revoke(self, request: web.Request) -> web.StreamResponse:
        actor = request[ACTOR]
        rec = await self.accounts.token(request.match_info["id"])
        self._own(actor, rec.account)
        await self.accounts.revoke(rec.id)
        return json_response({"id": rec.id, "revoked": True})

    async def create(self, request: web.Request) -> web.StreamResponse:
        spec = decode(await self._body(request), msgspec.json.Decoder(NewAccount).decode)
        acc = await self.accounts.create(spec.name, spec.role, spec.password)
        audit_detail(request, target="account:" + acc.name, role=acc.role)
        return json_response(acc.view(), status=201)

    async def list_accounts(self, request: web.Request) -> web.StreamResponse:
        return json_response({"data": [a.view() for a in await self.accounts.all()]})

    async def update(self, request: web.Request) -> web.StreamResponse:
        spec = decode(await self._body(request), msgspec.json.Decoder(AccountChange).decode)
        acc = await self.accounts.update(request.match_info["name"], role=spec.role,
                                         password=spec.password, disabled=spec.disabled)
        audit_detail(request, role=spec.role, disabled=spec.disabled,
                     password_changed=spec.password is not None)
        return json_response(acc.view())

    async def disable(self, request: web.Request) -> web.StreamResponse:
        acc = await self.accounts.update(request.match_info["name"], disabled=True)
        return json_response(acc.view())

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The audit log, oldest first: ``since``/``until`` (epoch, ISO time or ``7d``),
        ``actor``, ``action`` (a prefix), ``user`` (a data subject's id), ``limit``, and
        ``format`` (``json``, ``jsonl`` or ``csv``)."""
        q = request.query
        fmt = q.get("format", "json")
        if fmt not in ("json", "jsonl", "csv"):
            raise InvalidRequest("`format` is json, jsonl or csv.", param="format")
        try:
            limit = max(1, min(int(q.get("limit", "1000")), 100_000))
        except ValueError:
            limit = 1000
        user = q.get("user")
        entries = await self.audit.export(
            since=parse_when(q.get("since"), "since"), until=parse_when(q.get("until"), "until"),
            actor=q.get("actor"), action=q.get("action"), limit=limit,
            target=await self.audit.user_ref(user) if user else q.get("target"))
        audit_detail(request, entries=len(entries), format=fmt)
        if fmt == "jsonl":
            return web.Response(text=to_jsonl(entries), content_type="application/x-ndjson")
        if fmt == "csv":
            return web.Response(text=to_csv(entries), content_type="text/csv")
        return json_response({"data": [e.as_dict() for e in entries]})
