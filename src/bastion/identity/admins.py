"""Who administers the gateway: credentials, roles per route, and the audit of each action.

An admin request presents one credential as ``Authorization: Bearer …``:

* an account's session or API token (``bat_…``, :mod:`bastion.identity.accounts`);
* a token from an ``auth.admin.oidc`` issuer (:mod:`bastion.identity.admin_oidc`);
* the master key: the break-glass credential. It holds every role, and every use is
  logged (WARNING ``admin_master_key_used``, with the route and the client address)
  and audited as the actor ``master-key``.

Each route is registered through :meth:`Admins.route` with the role it needs (see
:mod:`bastion.identity.roles`) and, when it changes something or hands out
personal data, an action name for the audit log. A role that may not use the
route gets 403 ``insufficient_role``; that refusal is audited too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bastion.api.common import error_response, request_id
from bastion.core.errors import GatewayError, InsufficientRole
from bastion.identity.accounts import TOKEN_PREFIX, Accounts
from bastion.identity.admin_oidc import AdminOidcVerifier
from bastion.identity.audit import AdminAudit
from bastion.identity.jwt_verify import looks_like_jwt
from bastion.identity.roles import MASTER, Actor, Role
from bastion.observe.logging import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MasterCheck = Callable[[web.Request], Awaitable[None]]

ACTOR = web.RequestKey("bastion_admin_actor", Actor)
#: What a handler adds to its audit entry: ``target`` (replaces the one from the path)
#: and any other detail (numbers, flags: nothing secret, no names).
AUDIT = web.RequestKey("bastion_admin_audit", dict[str, Any])


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def audit_detail(request: web.Request, **detail: Any) -> None:
    """Add ``detail`` (and perhaps ``target``) to this request's audit entry."""
    request.setdefault(AUDIT, {}).update(detail)


class Admins:
    """Admin credentials, route guards and the admin audit (see the module docstring)."""

    def __init__(self, accounts: Accounts, audit: AdminAudit, check_master: MasterCheck,
                 oidc: AdminOidcVerifier | None = None) -> None:
        self.accounts = accounts
        self.audit = audit
        self.oidc = oidc
        self._check_master = check_master

    async def actor(self, request: web.Request) -> Actor:
        """The actor behind the request's credential, or 401."""
        token = bearer(request)
        if token is not None and token.startswith(TOKEN_PREFIX):
            return await self.accounts.verify_token(token)
        if token is not None and self.oidc is not None and looks_like_jwt(token):
            return await self.oidc.actor(token)
        await self._check_master(request)
        # A logger per use (break-glass is rare): it binds to the logging configuration
        # in force now, which a long-lived cached one would not follow.
        get_logger("bastion.admin").warning("admin_master_key_used", method=request.method,
                                            path=request.path, source=request.remote)
        return MASTER

    def route(self, handler: Handler, needs: Role, action: str | None = None) -> Handler:
        """``handler`` behind an admin credential holding ``needs``; audited as ``action``."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            actor: Actor | None = None
            resp: web.StreamResponse | None = None
            try:
                actor = await self.actor(request)
                request[ACTOR] = actor
                if not actor.may(needs):
                    raise InsufficientRole(f"This admin route needs the {needs} role; "
                                           f"{actor.id} has {actor.role}.")
                resp = await handler(request)
            except GatewayError as e:
                resp = error_response(e, request_id(request))
            finally:  # an unexpected failure is audited as a 500, then re-raised
                if action is not None and actor is not None:
                    await self._audit(request, actor, action,
                                      resp.status if resp is not None else 500)
            return resp

        guarded.__qualname__ = f"admin({getattr(handler, '__qualname__', 'handler')})"
        return guarded

    async def _audit(self, request: web.Request, actor: Actor, action: str,
                     status: int) -> None:
        detail = dict(request.get(AUDIT, {}))
        target = detail.pop("target", None)
        if target is None:
            match = request.match_info
            if "user" in match:
                target = await self.audit.user_ref(match["user"])
            elif "name" in match:
                target = "account:" + match["name"][:64]
            elif "id" in match:
                target = match["id"][:128]
        outcome = "ok" if status < 400 else "denied" if status == 403 else "failed"
        await self.audit.record(actor, action, target, source=request.remote,
                                status=status, outcome=outcome, **detail)
