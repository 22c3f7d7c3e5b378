"""What AWS verifies before Bedrock answers, for the Bedrock stand-in.

:class:`AwsVerifier` recomputes a request's SigV4 signature from the request as it
arrived (raw path, query, the headers it says it signed, the body), as AWS does,
and refuses what AWS refuses: no signature, an unknown access key, a scope for
another region, date or service, a clock more than five minutes off, a session
token missing or expired, and a signature that does not match. It also accepts
Bedrock API keys (``Authorization: Bearer``) it was given, and plays STS
``AssumeRoleWithWebIdentity`` (:meth:`AwsVerifier.assume_role`): a known role and
the expected web-identity token get temporary credentials it will then accept.

This is a second, independent implementation of the signing rules (it reads what
the client sent; the gateway's signer writes it), so a mistake in one shows up as
a refused request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

from aiohttp import web

_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                   r"\s*SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
MAX_SKEW_S = 300


class Refused(Exception):
    """AWS would refuse the request: ``kind`` is the error name, the message its words."""

    def __init__(self, kind: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass
class TemporaryCredentials:
    secret_key: str
    session_token: str
    expires_at: float


@dataclass
class AwsVerifier:
    """See the module docstring. ``keys`` maps access key ids to secret keys."""

    region: str = "us-east-1"
    service: str = "bedrock"
    keys: dict[str, str] = field(default_factory=dict)
    api_keys: set[str] = field(default_factory=set)
    temporary: dict[str, TemporaryCredentials] = field(default_factory=dict)
    roles: set[str] = field(default_factory=set)
    web_identity_token: str | None = None
    session_s: float = 3600.0
    refusals: list[str] = field(default_factory=list)  # error names, in order
    signed_with: list[str] = field(default_factory=list)  # access key ids that passed

    def verify(self, request: web.Request, body: bytes) -> None:
        """Raise :class:`Refused` unless ``request`` is authenticated as AWS wants."""
        try:
            self._verify(request, body)
        except Refused as e:
            self.refusals.append(e.kind)
            raise

    def _verify(self, request: web.Request, body: bytes) -> None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            if auth[7:] not in self.api_keys:
                raise Refused("AccessDeniedException", "Authentication failed: invalid API key")
            return
        m = _AUTH.match(auth)
        if not m:
            raise Refused("MissingAuthenticationTokenException", "Missing Authentication Token")
        key_id, day, region, service, signed, signature = m.groups()
        secret = self._secret(key_id, request)
        if (region, service) != (self.region, self.service):
            raise Refused("InvalidSignatureException",
                          f"Credential should be scoped to a valid region and service "
                          f"({self.region}/{self.service}), not {region}/{service}.")
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            raise Refused("IncompleteSignatureException", "X-Amz-Date is missing or malformed"
                          ) from None
        if day != amz_date[:8]:
            raise Refused("InvalidSignatureException", "Date in Credential scope does not "
                          "match YYYYMMDD from ISO-8601 version of date from HTTP")
        if abs(time.time() - when.timestamp()) > MAX_SKEW_S:
            raise Refused("InvalidSignatureException", "Signature expired: the request time "
                          "is more than 5 minutes from the server's time")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            raise Refused("InvalidSignatureException", "host and x-amz-date must be signed")
        expected = signature_of(request, body, names, secret, region, service, day, amz_date)
        if not hmac.compare_digest(expected, signature):
            raise Refused("InvalidSignatureException",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your AWS Secret Access Key and signing method.")
        self.signed_with.append(key_id)

    def _secret(self, key_id: str, request: web.Request) -> str:
        if key_id in self.keys:
            return self.keys[key_id]
        temp = self.temporary.get(key_id)
        if temp is None:
            raise Refused("UnrecognizedClientException",
                          "The security token included in the request is invalid.")
        if request.headers.get("X-Amz-Security-Token") != temp.session_token:
            raise Refused("UnrecognizedClientException",
                          "The security token included in the request is invalid.")
        if time.time() >= temp.expires_at:
            raise Refused("ExpiredTokenException",
                          "The security token included in the request is expired")
        return temp.secret_key

    def assume_role(self, form: str) -> bytes:
        """STS ``AssumeRoleWithWebIdentity`` (form-encoded ``form``): the XML answer."""
        params = dict(parse_qsl(form))
        if params.get("Action") != "AssumeRoleWithWebIdentity":
            raise Refused("InvalidAction", "Could not find operation", 400)
        if params.get("RoleArn") not in self.roles:
            raise Refused("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        if not self.web_identity_token or params.get("WebIdentityToken") != self.web_identity_token:
            raise Refused("InvalidIdentityToken", "Couldn't retrieve verification key from your "
                          "identity provider", 400)
        key_id = "ASIA" + secrets.token_hex(8).upper()
        creds = TemporaryCredentials(secrets.token_urlsafe(30), secrets.token_urlsafe(60),
                                     time.time() + self.session_s)
        self.temporary[key_id] = creds
        expiration = dt.datetime.fromtimestamp(creds.expires_at, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        return (
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult><Credentials>"
            f"<SessionToken>{creds.session_token}</SessionToken>"
            f"<SecretAccessKey>{creds.secret_key}</SecretAccessKey>"
            f"<Expiration>{expiration}</Expiration>"
            f"<AccessKeyId>{key_id}</AccessKeyId>"
            "</Credentials></AssumeRoleWithWebIdentityResult>"
            "</AssumeRoleWithWebIdentityResponse>").encode()


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def signature_of(request: web.Request, body: bytes, names: list[str], secret: str,
                 region: str, service: str, day: str, amz_date: str) -> str:
    """The SigV4 signature AWS computes for ``request`` as received."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    # Services other than S3 encode each path segment once more.
    canonical_uri = "/".join(_uri_encode(seg) for seg in raw_path.split("/")) or "/"
    query = sorted((_uri_encode(k), _uri_encode(v))
                   for k, v in parse_qsl(raw_query, keep_blank_values=True))
    canonical_query = "&".join(f"{k}={v}" for k, v in query)
    headers = "".join(
        f"{n}:{','.join(' '.join(v.split()) for v in request.headers.getall(n, []))}\n"
        for n in names)
    canonical = "\n".join([request.method, canonical_uri, canonical_query, headers,
                           ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
