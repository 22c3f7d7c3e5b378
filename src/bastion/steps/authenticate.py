"""authenticate →: the virtual key becomes an identity; the alias must exist (404
``model_not_found`` for every key otherwise) and be in the key's scope (403
``model_not_allowed``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bastion.auth_guard import AuthThrottle
from bastion.core.context import Context, Identity, Reply
from bastion.core.errors import ModelNotAllowed, ModelNotFound
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


async def authenticate_client(keys: KeyService, throttle: AuthThrottle, peer: str | None,
                              headers: Mapping[str, str], path: str) -> Identity:
    """The identity of the virtual key in ``headers``, throttled per client address
    (:mod:`bastion.auth_guard`): every route that takes a virtual key comes here."""
    addr = throttle.address(peer, headers)
    return await throttle.guard(addr, "virtual_key", path,
                                lambda: keys.authenticate(presented_key(headers)))


def check_alias(ident: Identity, alias: str, aliases: Collection[str]) -> None:
    """404 for an alias that does not exist (whatever the key), 403 for one out of scope."""
    if alias not in aliases:
        raise ModelNotFound(f"The model {alias!r} is not configured on this gateway.")
    if not ident.may_use(alias):
        raise ModelNotAllowed(f"This API key may not use the model {alias!r}.")


class Authenticate:
    def __init__(self, keys: KeyService, throttle: AuthThrottle,
                 aliases: Collection[str]) -> None:
        self.keys = keys
        self.throttle = throttle
        self.aliases = frozenset(aliases)

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = await authenticate_client(self.keys, self.throttle, ctx.client_ip,
                                          ctx.headers, ctx.kind)
        ctx.identity = ident
        check_alias(ident, ctx.alias, self.aliases)
        return await call_next(ctx)
