"""authenticate →: the virtual key or caller JWT becomes an identity (the end user a
service key names included; see :mod:`bastion.identity`); the alias must exist (404
``model_not_found`` for every caller otherwise) and be in the caller's scope (403
``model_not_allowed``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from bastion.auth_guard import AuthThrottle
from bastion.core.context import Context, Identity, Reply
from bastion.core.errors import ModelNotAllowed, ModelNotFound
from bastion.core.pipeline import Next

if TYPE_CHECKING:
    from bastion.identity.callers import Callers


def presented_key(headers: object) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``x-api-key`` (Anthropic SDKs)."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    auth = get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return str(token.strip())
        return None
    key = get("x-api-key")
    return str(key).strip() if key else None


async def authenticate_client(callers: Callers, throttle: AuthThrottle, peer: str | None,
                              headers: Mapping[str, str], path: str) -> Identity:
    """The caller behind ``headers`` (virtual key or JWT), throttled per client address
    (:mod:`bastion.auth_guard`): every route that takes a caller's credential comes here."""
    addr = throttle.address(peer, headers)
    return await throttle.guard(addr, "caller", path, lambda: callers.identify(headers))


def check_alias(ident: Identity, alias: str, aliases: Collection[str]) -> None:
    """404 for an alias that does not exist (whoever calls), 403 for one out of scope."""
    if alias not in aliases:
        raise ModelNotFound(f"The model {alias!r} is not configured on this gateway.")
    if not ident.may_use(alias):
        who = "This API key" if ident.via == "key" else "This user"
        raise ModelNotAllowed(f"{who} may not use the model {alias!r}.")


class Authenticate:
    def __init__(self, callers: Callers, throttle: AuthThrottle,
                 aliases: Collection[str]) -> None:
        self.callers = callers
        self.throttle = throttle
        self.aliases = frozenset(aliases)

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = await authenticate_client(self.callers, self.throttle, ctx.client_ip,
                                          ctx.headers, ctx.kind)
        ident = self.callers.acting_for(ident, ctx.headers, ctx.request.user)
        ctx.identity = ident
        check_alias(ident, ctx.alias, self.aliases)
        return await call_next(ctx)
