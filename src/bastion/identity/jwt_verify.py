"""Verifying a JWT against a set of trusted issuers (PyJWT); no identity mapping here.

A token is routed by its (unverified) ``iss`` to one configured issuer; nothing
else is believed before the signature is checked. Its ``alg`` must be on that
issuer's allow-list (``none`` never is; HS* only with a configured shared secret,
which is the only key an HS* token is ever checked with, so a public key can
never be used as an HMAC secret). PyJWT then checks the signature with the key
for the token's ``kid``, ``exp``/``nbf``/``iat`` with ``clock_skew_s``, ``iss``,
``aud`` and the required claims, and refuses RSA keys under 2048 bits and HMAC
secrets shorter than the hash. Every refusal is a 401 with a sentence saying which
check failed (never the token).

Used for callers (:mod:`bastion.identity.jwt_auth`) and for admin sign-in by OIDC
(:mod:`bastion.identity.admin_oidc`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
import msgspec

from bastion.config.auth_settings import HMAC_ALGORITHMS, AdminOidc, JwtIssuer
from bastion.config.secrets import Resolver, SecretError, SecretSource
from bastion.core.errors import AuthenticationFailed
from bastion.identity.signing_keys import JwksKeys, KeySource, StaticKey

MALFORMED = "The token is not a well-formed JWT (three base64url parts: header, claims, " \
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
    """``value`` quoted for a message: at most ``most`` printable characters."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text[:most])
    return repr(text + ("…" if len(str(value)) > most else ""))


def looks_like_jwt(token: str) -> bool:
    return token.startswith("eyJ") and token.count(".") == 2


def _segment(seg: str, error: type[AuthenticationFailed]) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise error(MALFORMED) from None
    if not isinstance(value, dict):
        raise error(MALFORMED)
    return value


def peek(token: str, error: type[AuthenticationFailed] = AuthenticationFailed
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, NOT verified: only to pick the issuer, key and algorithm."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise error(MALFORMED)
    return _segment(parts[0], error), _segment(parts[1], error)


class Issuer:
    """One trusted issuer, ready to verify: its keys and PyJWT options."""

    def __init__(self, s: JwtIssuer | AdminOidc, resolvers: Mapping[str, Resolver]) -> None:
        self.s = s
        self.algorithms = frozenset(s.algorithms)
        required = s.required_claims if isinstance(s, JwtIssuer) else ["exp"]
        self.options: Any = {"require": list(dict.fromkeys(required)),
                             "enforce_minimum_key_length": True}
        self.public: KeySource | None = None
        if s.jwks_url:
            self.public = JwksKeys(s.jwks_url, s.jwks_refresh_s, s.jwks_min_refresh_s,
                                   s.jwks_timeout_ms / 1000)
        elif s.public_key:
            self.public = StaticKey(s.public_key, resolvers)
        secret = s.shared_secret if isinstance(s, JwtIssuer) else None
        self.secret = SecretSource(secret, resolvers) if secret else None

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

    def unknown_key(self, kid: str | None) -> str:
        if kid is None:
            msg = "The token names no signing key (kid) and the issuer has several."
        else:
            msg = f"The token names a signing key ({clip(kid, 64)}) that its issuer does " \
                  "not publish."
        if self.public is not None and self.public.unavailable():
            msg += " The issuer's key set could not be fetched just now; try again shortly."
        return msg


class TokenVerifier:
    """Signature and standard claims of tokens from ``issuers`` (see the module docstring).

    Refusals are ``error`` (401): ``invalid_api_key`` for callers, ``invalid_admin_token``
    for admins.
    """

    def __init__(self, issuers: Iterable[JwtIssuer | AdminOidc],
                 resolvers: Mapping[str, Resolver],
                 error: type[AuthenticationFailed] = AuthenticationFailed) -> None:
        self.issuers = {s.issuer: Issuer(s, resolvers) for s in issuers}
        self.error = error
        self.signature_checks = 0  # tokens verified by signature

    async def start(self) -> None:
        """Fetch every issuer's keys at once (each bounded by its time-out; failures are
        logged and retried in the background, never fatal)."""
        await asyncio.gather(*(i.public.start() for i in self.issuers.values()
                               if i.public is not None))

    async def aclose(self) -> None:
        for i in self.issuers.values():
            if i.public is not None:
                await i.public.aclose()

    async def verify(self, token: str) -> tuple[Issuer, dict[str, Any], int]:
        """The issuer, the verified claims and the key set's generation, or 401."""
        header, unverified = peek(token, self.error)
        alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
        if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
            raise self.error(MALFORMED)
        if alg.lower() == "none":
            raise self.error("Unsigned tokens (alg: none) are never accepted.")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise self.error(f"The token's issuer ({clip(iss)}) is not one this gateway "
                             "trusts.")
        if alg not in issuer.algorithms:
            raise self.error(
                f"This gateway does not accept {clip(alg, 16)}-signed tokens from this issuer "
                f"(it accepts {', '.join(sorted(issuer.algorithms))}).")
        key = await issuer.key(kid, alg)
        if key is None:
            raise self.error(issuer.unknown_key(kid))
        generation = issuer.generation  # of the set the key came from
        return issuer, self._decode(token, key, alg, issuer), generation

    def _decode(self, token: str, key: Any, alg: str, issuer: Issuer) -> dict[str, Any]:
        self.signature_checks += 1
        try:
            return jwt.decode(token, key, algorithms=[alg], audience=issuer.s.audience,
                              issuer=issuer.s.issuer, leeway=issuer.s.clock_skew_s,
                              options=issuer.options)
        except jwt.MissingRequiredClaimError as e:
            raise self.error(f"The token lacks the required claim "
                             f"`{clip(e.claim, 40)[1:-1]}`.") from None
        except jwt.PyJWTError as e:
            raise self.error(next((m for cls, m in _REFUSALS if isinstance(e, cls)),
                                  MALFORMED)) from None
