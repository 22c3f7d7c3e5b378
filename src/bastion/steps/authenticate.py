"""authenticate →: the virtual key or caller JWT becomes an identity (the end user a
service key names included); the alias must be in its scope. See :mod:`bastion.identity`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.context import Context, Reply
from bastion.core.errors import ModelNotAllowed
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


class Authenticate:
    def __init__(self, callers: Callers) -> None:
        self.callers = callers

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = await self.callers.identify(ctx.headers)
        ident = self.callers.acting_for(ident, ctx.headers, ctx.request.user)
        ctx.identity = ident
        if not ident.may_use(ctx.alias):
            who = "This API key" if ident.via == "key" else "This user"
            raise ModelNotAllowed(f"{who} may not use the model {ctx.alias!r}.")
        return await call_next(ctx)
