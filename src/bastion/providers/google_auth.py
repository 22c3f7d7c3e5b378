"""Google access tokens for the Vertex AI adapter.

Two sources, chosen once at build time:

* :class:`ServiceAccountTokens`: a service-account key (the JSON file Google issues,
  behind a secret reference: ``credentials: file:/etc/bastion/sa.json``, or the
  ``GOOGLE_APPLICATION_CREDENTIALS`` file when ``credentials`` is unset). A JWT
  (RS256, signed with the key's ``private_key``; ``iss`` the key's ``client_email``,
  ``aud`` its ``token_uri``, the ``cloud-platform`` scope, one hour) is exchanged at
  the key's ``token_uri`` (OAuth 2.0 JWT bearer grant) for an access token.
* :class:`MetadataTokens`: workload identity (GKE, Cloud Run, GCE): the metadata
  server's token for the attached service account (``GCE_METADATA_HOST`` overrides
  ``metadata.google.internal``).

Either way the token is cached and fetched again shortly before it expires (five
minutes, or a quarter of its lifetime if that is shorter), by one caller at a time.
Failures raise :class:`TokenUnavailable` with a reason that never holds a key or a
token. Signing uses ``cryptography`` (imported when a key is first used).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from bastion.config.secrets import SecretError, SecretSource

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN_S = 300.0
JWT_LIFETIME_S = 3600
_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3, sock_read=5)
_MAX_BODY = 64 * 1024


class TokenUnavailable(Exception):
    """No access token could be obtained; the message says why (never a secret)."""


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_jwt(info: Mapping[str, Any], now: float, key: Any = None) -> str:
    """The JWT assertion for service-account ``info`` (``key``: its loaded private key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = key if key is not None else load_key(info)
    header = {"alg": "RS256", "typ": "JWT"}
    if info.get("private_key_id"):
        header["kid"] = str(info["private_key_id"])
    iat = int(now)
    claims = {"iss": info["client_email"], "scope": SCOPE, "aud": info["token_uri"],
              "iat": iat, "exp": iat + JWT_LIFETIME_S}
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64(json.dumps(claims, separators=(",", ":")).encode()))
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64(signature)


def load_key(info: Mapping[str, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(str(info["private_key"]).encode(), password=None)
    except (ValueError, TypeError):
        raise TokenUnavailable("the service account's private_key is not a PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenUnavailable("the service account's private_key is not an RSA key")
    return key


def parse_service_account(text: str, ref: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        raise TokenUnavailable(f"{ref} is not a JSON service-account key") from None
    if not isinstance(info, dict):
        raise TokenUnavailable(f"{ref} is not a JSON service-account key")
    if info.get("type") != "service_account":
        raise TokenUnavailable(
            f"{ref}: only service-account keys (type service_account) are supported, not "
            f"{str(info.get('type'))[:40]!r}; on Google Cloud, leave credentials unset to "
            "use workload identity")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise TokenUnavailable(f"{ref}: the key has no {', '.join(missing)}")
    return info


class _Cached:
    """A token with its expiry, shared by both sources."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._token = None

    def _store(self, token: str, expires_in: float, now: float) -> str:
        self._token = token
        self._refresh_at = now + expires_in - min(REFRESH_MARGIN_S, expires_in / 4)
        return token

    async def token(self) -> str:
        if self._token is not None and time.time() < self._refresh_at:
            return self._token
        async with self._lock:
            if self._token is None or time.time() >= self._refresh_at:
                now = time.time()
                token, expires_in = await self._fetch(now)
                self._store(token, expires_in, now)
            assert self._token is not None
            return self._token

    async def _fetch(self, now: float) -> tuple[str, float]:
        raise NotImplementedError


def _token_of(status: int, raw: bytes, who: str) -> tuple[str, float]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if status != 200:
        reason = data.get("error") if isinstance(data, dict) else None
        why = f" ({''.join(c for c in str(reason) if c.isalnum() or c == '_')[:40]})" if (
            reason) else ""
        raise TokenUnavailable(f"{who} refused the token request (HTTP {status}){why}")
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise TokenUnavailable(f"{who} answered without an access token")
    try:
        expires_in = float(data.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600.0
    return data["access_token"], max(1.0, expires_in)


async def _call(session: aiohttp.ClientSession, method: str, url: str, who: str,
                **kwargs: Any) -> tuple[int, bytes]:
    try:
        async with session.request(method, url, timeout=_TIMEOUT, allow_redirects=False,
                                   **kwargs) as resp:
            return resp.status, await resp.content.read(_MAX_BODY)
    except TimeoutError:
        raise TokenUnavailable(f"{who} did not answer in time") from None
    except (aiohttp.ClientError, OSError) as e:
        raise TokenUnavailable(f"cannot reach {who} ({type(e).__name__})") from None


class ServiceAccountTokens(_Cached):
    """Access tokens for a service-account key (see the module docstring)."""

    def __init__(self, key: SecretSource, session: aiohttp.ClientSession) -> None:
        super().__init__()
        self._key = key
        self._session = session
        self._loaded: tuple[str, Any] | None = None  # (key JSON, its private key)

    async def _fetch(self, now: float) -> tuple[str, float]:
        try:
            text = (await self._key.get()).reveal()
        except SecretError as e:
            raise TokenUnavailable(str(e)) from None
        info = parse_service_account(text, self._key.ref)
        if self._loaded is None or self._loaded[0] != text:
            self._loaded = (text, load_key(info))
        assertion = signed_jwt(info, now, self._loaded[1])
        who = "the service account's token_uri"
        status, raw = await _call(
            self._session, "POST", info["token_uri"], who,
            data=urlencode({"grant_type": JWT_GRANT, "assertion": assertion}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return _token_of(status, raw, who)


class MetadataTokens(_Cached):
    """Workload identity: the metadata server's token (see the module docstring)."""

    def __init__(self, env: Mapping[str, str], session: aiohttp.ClientSession) -> None:
        super().__init__()
        host = env.get("GCE_METADATA_HOST") or "metadata.google.internal"
        self._url = (f"http://{host}/computeMetadata/v1/instance/service-accounts/default/"
                     "token")
        self._session = session

    async def _fetch(self, now: float) -> tuple[str, float]:
        who = "the metadata server (workload identity)"
        status, raw = await _call(self._session, "GET", self._url, who,
                                  headers={"Metadata-Flavor": "Google"})
        return _token_of(status, raw, who)
