"""Caller JWTs: verified against ``auth.jwt`` issuers, mapped to an identity, cached.

Verification is :mod:`bastion.identity.jwt_verify` (PyJWT); the claims become an
:class:`~bastion.core.context.Identity` through the issuer's
:class:`~bastion.identity.claims.ClaimMapper`; a request from a browser must come
from one of the issuer's CORS origins (403 ``origin_not_allowed``).

A verified token is remembered (by a hash of it) until the earlier of its
``exp`` (plus the clock skew) and ``auth.token_cache_ttl_s``, so a client reusing
its token costs a dictionary lookup, not a signature check; a key withdrawn from
the JWKS makes the tokens it signed be checked again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bastion.config.auth_settings import AuthSettings
from bastion.config.secrets import Resolver
from bastion.core.context import Identity
from bastion.core.errors import OriginNotAllowed
from bastion.identity.claims import ClaimMapper
from bastion.identity.jwt_verify import Issuer, TokenVerifier, clip

_CACHE_MAX = 50_000


@dataclass(slots=True, frozen=True)
class _Verified:
    identity: Identity
    issuer: Issuer
    origins: frozenset[str]
    not_before: float
    not_after: float
    generation: int


class JwtAuthenticator:
    """Caller tokens of every ``auth.jwt`` issuer (see the module docstring)."""

    def __init__(self, settings: AuthSettings, aliases: Iterable[str],
                 resolvers: Mapping[str, Resolver]) -> None:
        names = list(aliases)
        self.verifier = TokenVerifier(settings.jwt, resolvers)
        self.mappers = {s.issuer: ClaimMapper(s, names) for s in settings.jwt}
        self.origins = {s.issuer: frozenset(s.cors.allow_origins if s.cors else ())
                        for s in settings.jwt}
        self.cache_ttl_s = settings.token_cache_ttl_s
        self._cache: dict[bytes, _Verified] = {}

    @property
    def signature_checks(self) -> int:
        return self.verifier.signature_checks

    async def start(self) -> None:
        await self.verifier.start()

    async def aclose(self) -> None:
        await self.verifier.aclose()

    async def verify(self, token: str, origin: str | None = None) -> Identity:
        """The identity a valid token stands for, or 401 (403 from a foreign origin)."""
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        now = time.time()
        hit = self._cache.get(digest)
        if (hit is not None and hit.not_before <= now < hit.not_after
                and hit.generation == hit.issuer.generation):
            _check_origin(hit.origins, origin)
            return hit.identity
        issuer, claims, generation = await self.verifier.verify(token)
        ident = self.mappers[issuer.s.issuer].identity(claims)
        origins = self.origins[issuer.s.issuer]
        _check_origin(origins, origin)
        if self.cache_ttl_s > 0:
            self._remember(digest, _Verified(ident, issuer, origins, *_window(
                claims, now, self.cache_ttl_s, issuer.s.clock_skew_s), generation))
        return ident

    def _remember(self, digest: bytes, entry: _Verified) -> None:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = entry


def _window(claims: Mapping[str, Any], now: float, ttl_s: float,
            skew_s: float) -> tuple[float, float]:
    """When a cached verification may be used: (not before, not after)."""
    exp, nbf = claims.get("exp"), claims.get("nbf")
    not_after = now + ttl_s
    if isinstance(exp, int | float):
        not_after = min(not_after, exp + skew_s)
    return (nbf - skew_s if isinstance(nbf, int | float) else float("-inf")), not_after


def _check_origin(origins: frozenset[str], origin: str | None) -> None:
    if origin is not None and origin not in origins:
        raise OriginNotAllowed(f"Tokens of this issuer may not be used from the web "
                               f"origin {clip(origin, 100)}.")
