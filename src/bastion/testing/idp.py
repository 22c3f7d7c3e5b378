"""``FakeIdentityProvider``: an issuer on loopback that publishes a JWKS and signs tokens.

For tests of applications whose users call the gateway with their own JWTs
(``auth.jwt``): keys are generated in the process, the JWKS is served over real
HTTP, and the provider can rotate keys, go down (503), hang, or serve garbage.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bastion.testing.loopthread import LoopThread

Mode = Literal["ok", "down", "hang", "garbage"]
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(slots=True)
class IdpKey:
    kid: str
    alg: str
    private: Any
    published: bool = True

    def public_pem(self) -> str:
        return str(self.private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode())

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec: Any = (RSAAlgorithm if self.alg[:2] in ("RS", "PS") else
                      OKPAlgorithm if self.alg == "EdDSA" else ECAlgorithm)
        out: dict[str, Any] = codec.to_jwk(public, as_dict=True)
        out.update(kid=self.kid, use="sig", alg=self.alg)
        return out


def new_private_key(alg: str) -> Any:
    if alg[:2] in ("RS", "PS"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return ec.generate_private_key(curve)


class FakeIdentityProvider:
    """Serve ``/.well-known/jwks.json`` on 127.0.0.1 and mint tokens signed by its keys.

    ``mode`` decides what the JWKS endpoint does: ``ok``, ``down`` (503), ``hang``
    (never answers) or ``garbage`` (200 with a body that is not a JWKS).
    ``jwks_requests`` counts the fetches it received.
    """

    def __init__(self, alg: str = "RS256", audience: str = "bastion") -> None:
        self.audience = audience
        self.mode: Mode = "ok"
        self.jwks_requests = 0
        self.keys: list[IdpKey] = []
        app = web.Application()
        app.router.add_get(JWKS_PATH, self._jwks)
        self._thread = LoopThread(app)
        self.signing = self.add_key(alg)

    @property
    def base_url(self) -> str:
        return self._thread.base_url

    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    @property
    def jwks_url(self) -> str:
        return self.base_url + JWKS_PATH

    def add_key(self, alg: str = "RS256", *, published: bool = True) -> IdpKey:
        key = IdpKey("k-" + secrets.token_hex(4), alg, new_private_key(alg), published)
        self.keys.append(key)
        return key

    def rotate(self, alg: str | None = None, *, drop_old: bool = False) -> IdpKey:
        """A new signing key, published next to the old one (or instead of it)."""
        if drop_old:
            for k in self.keys:
                k.published = False
        self.signing = self.add_key(alg or self.signing.alg)
        return self.signing

    def claims(self, sub: str = "user-1", *, ttl_s: float = 300, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        out: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "sub": sub,
                               "iat": now, "exp": now + ttl_s}
        out.update(extra)
        return {k: v for k, v in out.items() if v is not None}

    def token(self, sub: str = "user-1", *, key: IdpKey | None = None,
              headers: dict[str, Any] | None = None, ttl_s: float = 300,
              **claims: Any) -> str:
        """A token for ``sub`` signed by ``key`` (default: the current signing key);
        a claim given as ``None`` is left out."""
        k = key or self.signing
        return jwt.encode(self.claims(sub, ttl_s=ttl_s, **claims), k.private, algorithm=k.alg,
                          headers={"kid": k.kid, **(headers or {})})

    async def _jwks(self, _request: web.Request) -> web.StreamResponse:
        self.jwks_requests += 1
        if self.mode == "down":
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "garbage":
            return web.Response(text="<html>not a key set</html>",
                                content_type="application/json")
        return web.json_response({"keys": [k.jwk() for k in self.keys if k.published]})

    def start(self) -> FakeIdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> FakeIdentityProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
