"""AWS credentials for the Bedrock adapter, and request signing (SigV4).

Credentials come from the first of these that is configured:

1. the provider's own references, ``aws_access_key_id`` and ``aws_secret_access_key``
   (and ``aws_session_token``), each ``env:``/``file:``/``aws-sm:``/``vault:``;
2. the standard variables ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
   ``AWS_SESSION_TOKEN``;
3. a web-identity token file with a role (``AWS_WEB_IDENTITY_TOKEN_FILE`` and
   ``AWS_ROLE_ARN``, optionally ``AWS_ROLE_SESSION_NAME``; what EKS, and any OIDC
   workload federation, sets up): the token is exchanged with STS
   ``AssumeRoleWithWebIdentity`` (an unsigned call) for temporary credentials,
   kept until five minutes before they expire. The STS endpoint is
   ``AWS_ENDPOINT_URL_STS`` or ``AWS_ENDPOINT_URL`` when set, else the regional one.

Requests are signed with the SigV4 signer of :mod:`bastion.config.remote_secrets`
(the one ``aws-sm:`` secrets use). Nothing here logs or returns a secret in a message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bastion.config.remote_secrets import sigv4_headers
from bastion.config.secrets import SecretError, SecretSource
from bastion.core.errors import ProviderAuthError
from bastion.observe.logging import get_logger

REFRESH_MARGIN_S = 300.0
_STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
_STS_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3, sock_read=5)
_MAX_STS_BODY = 256 * 1024


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key: str
    secret_key: str
    session_token: str | None = None
    expires_at: float | None = None  # epoch seconds; None: does not expire

    def fresh(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at - REFRESH_MARGIN_S


class CredentialsUnavailable(Exception):
    """No credentials could be found or obtained; the message says why (never a secret)."""


@dataclass(frozen=True, slots=True)
class ConfiguredKeys:
    """The provider's own references (the first source of the chain)."""

    access_key: SecretSource
    secret_key: SecretSource
    session_token: SecretSource | None = None

    def sources(self) -> list[SecretSource]:
        return [s for s in (self.access_key, self.secret_key, self.session_token) if s]


class AwsCredentialChain:
    """The credentials of one Bedrock provider (see the module docstring)."""

    def __init__(self, keys: ConfiguredKeys | None, env: Mapping[str, str], region: str,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._keys = keys
        self._env = env
        self._region = region
        self._session = session
        self._assumed: AwsCredentials | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget temporary credentials (the configured references forget their own)."""
        self._assumed = None

    async def get(self) -> AwsCredentials:
        if self._keys is not None:
            return await self._configured(self._keys)
        env = self._env
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return AwsCredentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                                  env.get("AWS_SESSION_TOKEN") or None)
        if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
            return await self._web_identity()
        raise CredentialsUnavailable(
            "no AWS credentials: set aws_access_key_id and aws_secret_access_key on the "
            "provider, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN")

    @staticmethod
    async def _configured(keys: ConfiguredKeys) -> AwsCredentials:
        try:
            token = (await keys.session_token.get()).reveal() if keys.session_token else None
            return AwsCredentials((await keys.access_key.get()).reveal(),
                                  (await keys.secret_key.get()).reveal(), token)
        except SecretError as e:
            raise CredentialsUnavailable(str(e)) from None

    async def _web_identity(self) -> AwsCredentials:
        now = time.time()
        if self._assumed is not None and self._assumed.fresh(now):
            return self._assumed
        async with self._lock:
            if self._assumed is None or not self._assumed.fresh(time.time()):
                self._assumed = await assume_role_with_web_identity(
                    self._env, self._region, self._session)
            return self._assumed


def sts_endpoint(env: Mapping[str, str], region: str) -> str:
    return (env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
            or f"https://sts.{region}.amazonaws.com").rstrip("/") + "/"


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise CredentialsUnavailable(
            f"cannot read AWS_WEB_IDENTITY_TOKEN_FILE {path}: {e.strerror}") from None
    if not token:
        raise CredentialsUnavailable(f"AWS_WEB_IDENTITY_TOKEN_FILE {path} is empty")
    return token


def parse_sts_credentials(raw: bytes) -> AwsCredentials:
    """The ``Credentials`` of an ``AssumeRoleWithWebIdentityResponse``."""
    try:
        root = ET.fromstring(raw)  # noqa: S314 - the answer of the configured STS endpoint
    except ET.ParseError:
        raise CredentialsUnavailable("STS answered with something that is not XML") from None
    creds = root.find(f".//{_STS_NS}Credentials")
    if creds is None:
        creds = root.find(".//Credentials")
    if creds is None:
        raise CredentialsUnavailable("STS answered without credentials")

    def text(tag: str) -> str:
        node = creds.find(_STS_NS + tag)
        if node is None:
            node = creds.find(tag)
        return (node.text or "").strip() if node is not None else ""

    key, secret, token, expiration = (text("AccessKeyId"), text("SecretAccessKey"),
                                      text("SessionToken"), text("Expiration"))
    if not key or not secret or not token:
        raise CredentialsUnavailable("STS answered with incomplete credentials")
    try:
        expires = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
    except ValueError:
        expires = time.time() + 900  # the shortest session STS grants
    return AwsCredentials(key, secret, token, expires)


async def assume_role_with_web_identity(env: Mapping[str, str], region: str,
                                        session: aiohttp.ClientSession | None) -> AwsCredentials:
    """Temporary credentials for ``AWS_ROLE_ARN`` from ``AWS_WEB_IDENTITY_TOKEN_FILE``."""
    token = await asyncio.to_thread(_read_token, env["AWS_WEB_IDENTITY_TOKEN_FILE"])
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": env["AWS_ROLE_ARN"],
            "RoleSessionName": env.get("AWS_ROLE_SESSION_NAME") or "bastion",
            "WebIdentityToken": token}
    url = sts_endpoint(env, region)
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.post(url, data=urlencode(form).encode(), timeout=_STS_TIMEOUT,
                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                      "Accept": "application/xml"},
                             allow_redirects=False) as resp:
            status, raw = resp.status, await resp.content.read(_MAX_STS_BODY)
    except TimeoutError:
        raise CredentialsUnavailable("STS did not answer in time") from None
    except (aiohttp.ClientError, OSError) as e:
        raise CredentialsUnavailable(f"cannot reach STS ({type(e).__name__})") from None
    finally:
        if own:
            await http.close()
    if status != 200:
        raise CredentialsUnavailable(f"STS refused AssumeRoleWithWebIdentity (HTTP {status})")
    return parse_sts_credentials(raw)


class AwsSigner:
    """Signs Bedrock requests with the chain's current credentials."""

    def __init__(self, chain: AwsCredentialChain, region: str, provider: str,
                 service: str = "bedrock") -> None:
        self.chain = chain
        self.region = region
        self.service = service
        self.provider = provider

    async def headers(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` with SigV4 ``Authorization``, ``X-Amz-Date``, ``Host`` (and the
        session token). Credentials that cannot be had raise :class:`ProviderAuthError`
        (logged with the reason), so the route falls back as for any provider error."""
        try:
            creds = await self.chain.get()
        except CredentialsUnavailable as e:
            get_logger("bastion.upstream").warning("provider_key_unavailable",
                                                   provider=self.provider, reason=str(e))
            raise ProviderAuthError(
                "The gateway could not obtain its AWS credentials for this provider.") from None
        return sigv4_headers(method="POST", url=url, headers=headers, body=body,
                             region=self.region, service=self.service,
                             access_key=creds.access_key, secret_key=creds.secret_key,
                             session_token=creds.session_token)
