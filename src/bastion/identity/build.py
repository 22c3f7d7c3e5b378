"""Building the identity parts from the settings, for :class:`bastion.app.Gateway`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bastion.config.secrets import Resolver
from bastion.config.settings import Settings
from bastion.identity.callers import Callers
from bastion.keys import KeyService

Hooks = list[Callable[[], Awaitable[None]]]


def build_callers(settings: Settings, keys: KeyService, resolvers: Mapping[str, Resolver],
                  on_start: Hooks, on_close: Hooks) -> Callers:
    """Virtual keys, plus caller JWTs when ``auth.jwt`` lists issuers (their key sets are
    fetched at start-up and refreshed in the background until close)."""
    jwts = None
    if settings.auth.jwt:
        from bastion.identity.jwt_auth import JwtAuthenticator

        jwts = JwtAuthenticator(settings.auth, settings.models, resolvers)
        on_start.append(jwts.start)
        on_close.append(jwts.aclose)
    return Callers(keys, jwts, settings.auth.max_token_bytes)
