"""authenticate →: the virtual key becomes an identity; the alias must be in its scope."""

from __future__ import annotations

from bastion.core.context import Context, Reply
from bastion.core.errors import ModelNotAllowed
from bastion.core.pipeline import Next
from bastion.keys import KeyService


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
    def __init__(self, keys: KeyService) -> None:
        self.keys = keys

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = await self.keys.authenticate(presented_key(ctx.headers))
        ctx.identity = ident
        if not ident.may_use(ctx.alias):
            raise ModelNotAllowed(f"This API key may not use the model {ctx.alias!r}.")
        return await call_next(ctx)
