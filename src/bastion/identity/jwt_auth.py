"""Caller JWTs: verified with PyJWT against a trusted issuer, cached once verified.

A token is routed by its (unverified) ``iss`` to one configured issuer; nothing
else is believed before the signature is checked. Its ``alg`` must be on that
issuer's allow-list (``none`` never is; HS* only with a configured shared secret,
which is the only key an HS* token is ever checked with, so a public key can
never be used as an HMAC secret). PyJWT then checks the signature with the key
for the token's ``kid``, ``exp``/``nbf``/``iat`` with ``clock_skew_s``, ``iss``,
``aud`` and the required claims, and refuses RSA keys under 2048 bits and HMAC
secrets shorter than the hash. Every refusal is 401 ``invalid_api_key`` with a
sentence saying which check failed.

A verified token is remembered (by a hash of it) until the earlier of its
``exp`` and ``auth.token_cache_ttl_s``, so a client reusing its token costs a
dictionary lookup, not a signature check; a key withdrawn from the JWKS makes
the tokens it signed be checked again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import msgspec

from bastion.config.auth_settings import HMAC_ALGORITHMS, AuthSettings, JwtIssuer
from bastion.config.secrets import Resolver, SecretError, SecretSource
from bastion.core.context import Identity
from bastion.core.errors import AuthenticationFailed, OriginNotAllowed
from bastion.identity.claims import ClaimMapper
from bastion.identity.signing_keys import JwksKeys, KeySource, StaticKey

_CACHE_MAX = 50_000
_MALFORMED = "The token is not a well-formed JWT (three base64url parts: header, claims, " \
             "signature)."
# PyJWT's refusals, most specific first, as sentences for the person who sent the token.
_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired; sign in again to get a new one."),
    (jwt.ImmatureSignatureError, "The token is not valid yet (its nbf or iat lies in the "
                                 "future); check the clocks of the issuer and the client."),
    (jwt.InvalidAudienceError, "The token was issued for another audience, not this gateway."),
    (jwt.InvalidIssuerError, "The token's issuer does not match."),
    (jwt.InvalidSignatureError, "The token's signature does not verify: it was altered or "
                                "signed with another key."),
    (jwt.InvalidAlgorithmError, "The token's signing algorithm is not accepted."),
    (jwt.InvalidKeyError, "The issuer's signing key cannot be used (too short or of the "
                          "wrong type for the token's algorithm)."),
)


def clip(value: object, most: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text[:most])
    return repr(text + ("…" if len(str(value)) > most else ""))


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


def _segment(seg: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise AuthenticationFailed(_MALFORMED) from None
    if not isinstance(value, dict):
        raise AuthenticationFailed(_MALFORMED)
    return value


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, NOT verified: only to pick the issuer, key and algorithm."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise AuthenticationFailed(_MALFORMED)
    return _segment(parts[0]), _segment(parts[1])


class Issuer:
    """One trusted issuer, ready to verify: keys, options and its claim mapping."""

    def __init__(self, s: JwtIssuer, aliases: Iterable[str],
                 resolvers: Mapping[str, Resolver]) -> None:
        self.s = s
        self.mapper = ClaimMapper(s, aliases)
        self.algorithms = frozenset(s.algorithms)
        self.origins = frozenset(s.cors.allow_origins) if s.cors else frozenset[str]()
        self.options: Any = {"require": list(dict.fromkeys(s.required_claims)),
                             "enforce_minimum_key_length": True}
        self.public: KeySource | None = None
        if s.jwks_url:
            self.public = JwksKeys(s.jwks_url, s.jwks_refresh_s, s.jwks_min_refresh_s,
                                   s.jwks_timeout_ms / 1000)
        elif s.public_key:
            self.public = StaticKey(s.public_key, resolvers)
        self.secret = SecretSource(s.shared_secret, resolvers) if s.shared_secret else None

    @property
    def generation(self) -> int:
        return self.public.generation if self.public is not None else 0

    async def key(self, kid: str | None, alg: str) -> Any:
        if alg in HMAC_ALGORITHMS:
            if self.secret is None:
                return None
            try:
                return (await self.secret.get()).reveal().encode()
            except SecretError:
                return None
        return await self.public.key_for(kid, alg) if self.public is not None else None

    def unknown_key(self, kid: str | None) -> AuthenticationFailed:
        if kid is None:
            msg = "The token names no signing key (kid) and the issuer has several."
        else:
            msg = f"The token names a signing key ({clip(kid, 64)}) that its issuer does " \
                  "not publish."
        if self.public is not None and self.public.unavailable():
            msg += " The issuer's key set could not be fetched just now; try again shortly."
        return AuthenticationFailed(msg)


@dataclass(slots=True, frozen=True)
class _Verified:
    identity: Identity
    issuer: Issuer
    not_before: float
    not_after: float
    generation: int


class JwtAuthenticator:
    """Verifies caller JWTs for every configured issuer (see the module docstring)."""

    def __init__(self, settings: AuthSettings, aliases: Iterable[str],
                 resolvers: Mapping[str, Resolver]) -> None:
        names = list(aliases)
        self.issuers = {s.issuer: Issuer(s, names, resolvers) for s in settings.jwt}
        self.cache_ttl_s = settings.token_cache_ttl_s
        self._cache: dict[bytes, _Verified] = {}
        self.signature_checks = 0  # tokens verified by signature (not from the cache)

    async def start(self) -> None:
        """Fetch every issuer's keys at once (each bounded by its time-out; failures are
        logged and retried in the background, never fatal)."""
        await asyncio.gather(*(i.public.start() for i in self.issuers.values()
                               if i.public is not None))

    async def aclose(self) -> None:
        for i in self.issuers.values():
            if i.public is not None:
                await i.public.aclose()

    async def verify(self, token: str, origin: str | None = None) -> Identity:
        """The identity a valid token stands for, or 401 (403 from a foreign origin)."""
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        now = time.time()
        hit = self._cache.get(digest)
        if (hit is not None and hit.not_before <= now < hit.not_after
                and hit.generation == hit.issuer.generation):
            self._check_origin(hit.issuer, origin)
            return hit.identity
        header, unverified = peek(token)
        alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
        if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
            raise AuthenticationFailed(_MALFORMED)
        if alg.lower() == "none":
            raise AuthenticationFailed("Unsigned tokens (alg: none) are never accepted.")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthenticationFailed(f"The token's issuer ({clip(iss)}) is not one this "
                                       "gateway trusts.")
        if alg not in issuer.algorithms:
            raise AuthenticationFailed(
                f"This gateway does not accept {clip(alg, 16)}-signed tokens from this issuer "
                f"(it accepts {', '.join(sorted(issuer.algorithms))}).")
        key = await issuer.key(kid, alg)
        if key is None:
            raise issuer.unknown_key(kid)
        generation = issuer.generation  # of the set the key came from
        claims = self._decode(token, key, alg, issuer)
        ident = issuer.mapper.identity(claims)
        self._check_origin(issuer, origin)
        self._remember(digest, ident, issuer, claims, now, generation)
        return ident

    def _decode(self, token: str, key: Any, alg: str, issuer: Issuer) -> dict[str, Any]:
        self.signature_checks += 1
        try:
            return jwt.decode(token, key, algorithms=[alg], audience=issuer.s.audience,
                              issuer=issuer.s.issuer, leeway=issuer.s.clock_skew_s,
                              options=issuer.options)
        except jwt.MissingRequiredClaimError as e:
            raise AuthenticationFailed(f"The token lacks the required claim "
                                       f"`{clip(e.claim, 40)[1:-1]}`.") from None
        except jwt.PyJWTError as e:
            msg = next((m for cls, m in _REFUSALS if isinstance(e, cls)), _MALFORMED)
            raise AuthenticationFailed(msg) from None

    def _remember(self, digest: bytes, ident: Identity, issuer: Issuer,
                  claims: Mapping[str, Any], now: float, generation: int) -> None:
        if self.cache_ttl_s <= 0:
            return
        skew = issuer.s.clock_skew_s
        exp, nbf = claims.get("exp"), claims.get("nbf")
        not_after = now + self.cache_ttl_s
        if isinstance(exp, int | float):
            not_after = min(not_after, exp + skew)
        not_before = nbf - skew if isinstance(nbf, int | float) else float("-inf")
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = _Verified(ident, issuer, not_before, not_after, generation)

    @staticmethod
    def _check_origin(issuer: Issuer, origin: str | None) -> None:
        if origin is not None and origin not in issuer.origins:
            raise OriginNotAllowed(f"Tokens of this issuer may not be used from the web "
                                   f"origin {clip(origin, 100)}.")
