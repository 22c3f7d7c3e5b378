"""An issuer's signing keys: a JWKS fetched and cached, a static public key, a shared secret.

The request path never waits on the network for a key it has: a known ``kid``
is a dictionary lookup. A token naming an unknown ``kid`` (the issuer rotated
its keys) starts one fetch of the JWKS, shared by every request that waits for
it; fetches happen at most once per ``jwks_min_refresh_s`` (so a flood of
made-up ``kid`` values costs the issuer one request per interval), and a request
waits at most ``jwks_timeout_ms`` for one. A background task refreshes the set
every ``jwks_refresh_s`` and retries sooner (with backoff) after a failure.

When the JWKS endpoint is down or answers garbage, the keys already cached keep
working and new ``kid`` values are refused until it is back; an empty or
unreadable set never replaces a good one. A refresh that drops or changes a key
bumps :attr:`JwksKeys.generation`, so verified tokens cached under the old key
are checked again.

Keys are matched to the token's algorithm by family: RS*/PS* need an RSA key,
ES256/384/512 an EC key on P-256/384/521, EdDSA an Ed25519 key; a JWK that names
its own ``alg`` is used for that algorithm only, and symmetric (``oct``) keys in
a JWKS are ignored: HS256 is verified only with the configured shared secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK, PyJWKError, PyJWTError

from bastion.config.secrets import Resolver, SecretError, SecretSource
from bastion.observe.logging import get_logger

_log = get_logger("bastion.identity")
MAX_JWKS_BYTES = 512 * 1024
MAX_JWKS_KEYS = 100
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_ALG_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_STATIC_RETRY_S = 5.0


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key: its family (``RSA``, ``EC``, ``OKP``), curve, pinned alg, material."""

    kid: str | None
    family: str
    curve: str | None
    alg: str | None  # the JWK's own ``alg``: then only that algorithm may use it
    key: Any  # a cryptography public key object, as PyJWT verifies with
    fingerprint: bytes

    def fits(self, alg: str) -> bool:
        if self.alg is not None and self.alg != alg:
            return False
        if alg[:2] in ("RS", "PS"):
            return self.family == "RSA"
        if alg in _ALG_CURVE:
            return self.family == "EC" and self.curve == _ALG_CURVE[alg]
        return alg == "EdDSA" and self.family == "OKP" and self.curve == "Ed25519"


def key_from_jwk(jwk: Mapping[str, Any]) -> SigningKey | None:
    """A signature key from one JWK, or None for keys a JWKS may hold but we never use."""
    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP") or jwk.get("use", "sig") != "sig":
        return None
    kid = jwk.get("kid")
    alg = jwk.get("alg")
    if (kid is not None and not isinstance(kid, str)) or (alg is not None
                                                          and not isinstance(alg, str)):
        return None
    try:
        material = PyJWK(dict(jwk)).key
    except (PyJWTError, PyJWKError, ValueError, TypeError, KeyError):
        return None
    curve = jwk.get("crv") if isinstance(jwk.get("crv"), str) else None
    public = {k: jwk[k] for k in ("kty", "crv", "n", "e", "x", "y") if k in jwk}
    return SigningKey(kid, kty, curve, alg, material,
                      msgspec.json.encode(public, order="sorted"))


def key_from_text(text: str) -> SigningKey:
    """A static key: a PEM public key or certificate, or one JWK as JSON."""
    stripped = text.strip()
    if stripped.startswith("{"):
        found = key_from_jwk(msgspec.json.decode(stripped.encode()))
        if found is None:
            raise ValueError("the JWK is not an RSA, EC or Ed25519 signature key")
        return found
    data = stripped.encode()
    if b"BEGIN CERTIFICATE" in data:
        material: Any = x509.load_pem_x509_certificate(data).public_key()
    else:
        material = serialization.load_pem_public_key(data)
    if isinstance(material, rsa.RSAPublicKey):
        family, curve = "RSA", None
    elif isinstance(material, ec.EllipticCurvePublicKey):
        family, curve = "EC", _CURVES.get(material.curve.name)
    elif isinstance(material, ed25519.Ed25519PublicKey):
        family, curve = "OKP", "Ed25519"
    else:
        raise ValueError("the key is not an RSA, EC or Ed25519 public key")
    return SigningKey(None, family, curve, None, material, data)


def parse_jwks(body: bytes) -> dict[str | None, SigningKey]:
    """The usable signature keys of a JWKS document, by ``kid`` (first one wins)."""
    doc = msgspec.json.decode(body)
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS document (no `keys` list)")
    out: dict[str | None, SigningKey] = {}
    for jwk in keys[:MAX_JWKS_KEYS]:
        if isinstance(jwk, dict):
            k = key_from_jwk(jwk)
            if k is not None and k.kid not in out:
                out[k.kid] = k
    return out


def pick(keys: Mapping[str | None, SigningKey], kid: str | None, alg: str) -> Any | None:
    """The key material for ``kid`` and ``alg``; a token without ``kid`` may use the
    one key that fits, never a guess among several."""
    if kid is not None:
        k = keys.get(kid)
        return k.key if k is not None and k.fits(alg) else None
    fitting = [k for k in keys.values() if k.fits(alg)]
    return fitting[0].key if len(fitting) == 1 else None


class KeySource(Protocol):
    """Where an issuer's public keys come from."""

    generation: int  # changes when a key is withdrawn or replaced

    async def key_for(self, kid: str | None, alg: str) -> Any | None: ...

    def unavailable(self) -> bool:
        """Whether the last attempt to get keys failed (for a clearer refusal)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class StaticKey:
    """A public key from a secret reference (``file:/etc/bastion/idp.pem``), read once."""

    generation = 0

    def __init__(self, ref: str, resolvers: Mapping[str, Resolver]) -> None:
        self._source = SecretSource(ref, resolvers)
        self._key: SigningKey | None = None
        self._tried = -_STATIC_RETRY_S

    async def _load(self) -> None:
        self._tried = time.monotonic()
        try:
            self._key = key_from_text((await self._source.get()).reveal())
        except (SecretError, ValueError, TypeError) as e:
            _log.error("jwt_static_key_unreadable", ref=self._source.ref, error=str(e)[:200])

    async def key_for(self, kid: str | None, alg: str) -> Any | None:
        if self._key is None and time.monotonic() - self._tried >= _STATIC_RETRY_S:
            await self._load()
        return self._key.key if self._key is not None and self._key.fits(alg) else None

    def unavailable(self) -> bool:
        return self._key is None

    async def start(self) -> None:
        await self._load()

    async def aclose(self) -> None:
        return None


class JwksKeys:
    """A JWKS URL's keys, cached and refreshed (see the module docstring)."""

    def __init__(self, url: str, refresh_s: float, min_refresh_s: float,
                 timeout_s: float) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self.generation = 0
        self.fetches = 0
        self._keys: dict[str | None, SigningKey] = {}
        self._last_attempt = float("-inf")
        self._last_ok = True
        self._inflight: asyncio.Task[bool] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=4), cookie_jar=aiohttp.DummyCookieJar())
        await self._wait(self._refresh(force=True))
        self._loop_task = asyncio.create_task(self._background())

    async def aclose(self) -> None:
        for task in (self._loop_task, self._inflight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    def unavailable(self) -> bool:
        return not self._last_ok

    async def key_for(self, kid: str | None, alg: str) -> Any | None:
        found = pick(self._keys, kid, alg)
        if found is None and (kid is not None or not self._keys):
            await self._wait(self._refresh(force=False))
            found = pick(self._keys, kid, alg)
        return found

    async def _wait(self, task: asyncio.Task[bool] | None) -> None:
        """Wait for ``task`` at most ``timeout_s``; it goes on for the others if we stop."""
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.timeout_s)

    def _refresh(self, force: bool) -> asyncio.Task[bool] | None:
        """The fetch in flight, or a new one if the rate bound allows (or ``force``)."""
        if self._inflight is None:
            if not force and time.monotonic() - self._last_attempt < self.min_refresh_s:
                return None
            self._last_attempt = time.monotonic()
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(self._clear_inflight)
        return self._inflight

    def _clear_inflight(self, _task: asyncio.Task[bool]) -> None:
        self._inflight = None

    async def _background(self) -> None:
        failures = 0 if self._last_ok else 1
        while True:
            # After a failure retry sooner, doubling the wait up to the normal period.
            first_retry = max(self.min_refresh_s, 1.0)
            await asyncio.sleep(min(self.refresh_s, first_retry * 2 ** min(failures - 1, 20))
                                if failures else self.refresh_s)
            task = self._refresh(force=True)
            failures = 0 if task is not None and await task else failures + 1

    async def _fetch(self) -> bool:
        assert self._session is not None
        self.fetches += 1
        try:
            async with self._session.get(self.url, allow_redirects=False,
                                         headers={"accept": "application/json"}) as r:
                if r.status != 200:
                    raise ValueError(f"HTTP {r.status}")
                body = await r.content.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError(f"larger than {MAX_JWKS_BYTES} bytes")
            keys = parse_jwks(body)
            if not keys:
                raise ValueError("no usable signature keys in the set")
        except (aiohttp.ClientError, TimeoutError, ValueError, msgspec.DecodeError) as e:
            self._last_ok = False
            _log.warning("jwks_fetch_failed", url=self.url, error=str(e)[:200] or
                         type(e).__name__, cached_keys=len(self._keys))
            return False
        old = self._keys
        if any(k not in keys or keys[k].fingerprint != v.fingerprint for k, v in old.items()):
            self.generation += 1
        self._keys = keys
        self._last_ok = True
        return True
