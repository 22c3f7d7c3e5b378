"""authenticate →: the virtual key becomes an identity; the alias must be in its scope."""

from __future__ import annotations

from collections.abc import Mapping

from bastion.auth_guard import AuthThrottle
from bastion.core.context import Context, Identity, Reply
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


async def authenticate_client(keys: KeyService, throttle: AuthThrottle, peer: str | None,
                              headers: Mapping[str, str], path: str) -> Identity:
    """The identity of the virtual key in ``headers``, throttled per client address
    (:mod:`bastion.auth_guard`): every route that takes a virtual key comes here."""
    addr = throttle.address(peer, headers)
    return await throttle.guard(addr, "virtual_key", path,
                                lambda: keys.authenticate(presented_key(headers)))


class Authenticate:
    def __init__(self, keys: KeyService, throttle: AuthThrottle) -> None:
        self.keys = keys
        self.throttle = throttle

    async def __call__(self, ctx: Context, call_next: Next) -> Reply:
        ident = await authenticate_client(self.keys, self.throttle, ctx.client_ip,
                                          ctx.headers, ctx.kind)
        ctx.identity = ident
        if not ident.may_use(ctx.alias):
            raise ModelNotAllowed(f"This API key may not use the model {ctx.alias!r}.")
        return await call_next(ctx)
