"""A Vertex AI stand-in for :class:`~bastion.testing.upstream.FakeUpstream`, with Google's
token endpoint and metadata server.

``vertex_upstream(verifier)`` serves:

* ``POST /token``: the OAuth 2.0 JWT-bearer grant. The assertion's RS256 signature is
  checked against the service account's public key, and its claims as Google checks
  them (``iss`` the account, ``aud`` this token URI, the ``cloud-platform`` scope,
  ``iat``/``exp`` current and at most an hour apart); a good one gets an access token
  that lives :attr:`GoogleVerifier.token_lifetime_s`.
* ``GET /computeMetadata/v1/instance/service-accounts/default/token`` (with
  ``Metadata-Flavor: Google``): workload identity's token (point ``GCE_METADATA_HOST``
  at the stand-in's ``host:port``).
* ``POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}``:
  Gemini's ``generateContent``/``streamGenerateContent`` (as the Gemini stand-in
  answers and checks them) and ``predict`` for embeddings;
  ``…/publishers/anthropic/models/{model}:rawPredict``/``streamRawPredict``: the
  Messages API (as the Anthropic stand-in), with ``anthropic_version:
  vertex-2023-10-16`` required in the body and ``model`` refused there.

Every model call needs ``Authorization: Bearer`` with a token this stand-in issued and
that has not expired (else 401 ``UNAUTHENTICATED``), for the configured project and
location (else 403/404). :meth:`GoogleVerifier.service_account` writes the key file.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bastion.providers.fake import estimate_tokens, fake_embedding
from bastion.testing.upstream import Behavior, FakeUpstream, Handler
from bastion.testing.upstream_anthropic import anthropic_messages
from bastion.testing.upstream_gemini import gemini_call, gemini_error_body

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class _Refused(Exception):
    pass


@dataclass
class GoogleVerifier:
    """The service account, the tokens issued, and what was refused (see the module
    docstring)."""

    project: str = "my-project"
    location: str = "us-central1"
    token_lifetime_s: float = 3600.0
    client_email: str = "bastion@my-project.iam.gserviceaccount.com"
    private_key_id: str = "0123456789abcdef0123456789abcdef01234567"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    refusals: list[str] = field(default_factory=list)
    grants: int = 0
    metadata_grants: int = 0

    def service_account(self, token_uri: str, key: rsa.RSAPrivateKey | None = None) -> str:
        """The JSON key file of the account (signed with ``key``: another key makes a
        file whose signatures the token endpoint refuses)."""
        pem = (key or self.key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        return json.dumps({
            "type": "service_account", "project_id": self.project,
            "private_key_id": self.private_key_id, "private_key": pem,
            "client_email": self.client_email, "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
        })

    def issue(self) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(40)
        self.tokens[token] = time.time() + self.token_lifetime_s
        return {"access_token": token, "expires_in": int(self.token_lifetime_s),
                "token_type": "Bearer"}

    def exchange(self, form: str, token_uri: str) -> dict[str, Any]:
        """The token endpoint's answer, or :class:`_Refused` with the OAuth error."""
        params = dict(parse_qsl(form))
        if params.get("grant_type") != JWT_GRANT:
            raise _Refused("unsupported_grant_type")
        parts = params.get("assertion", "").split(".")
        if len(parts) != 3:
            raise _Refused("invalid_grant")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError:
            raise _Refused("invalid_grant") from None
        if header.get("alg") != "RS256" or header.get("kid") not in (None, self.private_key_id):
            raise _Refused("invalid_grant")
        try:
            self.key.public_key().verify(signature, f"{parts[0]}.{parts[1]}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _Refused("invalid_grant") from None  # "Invalid JWT Signature."
        now = time.time()
        if (claims.get("iss") != self.client_email or claims.get("aud") != token_uri
                or SCOPE not in str(claims.get("scope", "")).split()):
            raise _Refused("invalid_scope" if claims.get("iss") == self.client_email
                           else "invalid_grant")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 60 <= now < exp) or exp - iat > 3600:
            raise _Refused("invalid_grant")  # "Invalid JWT: Token must be a short-lived token"
        self.grants += 1
        return self.issue()

    def check(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        expires = self.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        if expires is None or time.time() >= expires:
            self.refusals.append("UNAUTHENTICATED")
            raise _Refused("Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication "
                           "credential.")


def _json(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json")


def _predict(body: Any) -> web.Response:
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        return _json(400, gemini_error_body(400, "instances is required"))
    dims = ((body.get("parameters") or {}).get("outputDimensionality")) or 256
    out = [{"embeddings": {"values": fake_embedding(i.get("content", ""), dims),
                           "statistics": {"token_count": estimate_tokens(i.get("content", "")),
                                          "truncated": False}}} for i in instances]
    return web.json_response({"predictions": out})


async def _anthropic(up: FakeUpstream, request: web.Request, model: str, method: str,
                     body: Any, b: Behavior) -> web.StreamResponse:
    if not isinstance(body, dict) or body.get("anthropic_version") != "vertex-2023-10-16":
        return _json(400, gemini_error_body(400, "anthropic_version: vertex-2023-10-16 is "
                                                 "required"))
    if "model" in body:
        return _json(400, gemini_error_body(400, "model: Extra inputs are not permitted"))
    if bool(body.get("stream")) != (method == "streamRawPredict"):
        return _json(400, gemini_error_body(400, "stream must match the method"))
    rest = {k: v for k, v in body.items() if k != "anthropic_version"}
    return await anthropic_messages(up, request, {"model": model, **rest}, b)


def _refusal(verifier: GoogleVerifier, request: web.Request) -> web.Response | None:
    """Why Vertex would refuse the call before reading it (token, project, location)."""
    try:
        verifier.check(request)
    except _Refused as e:
        return _json(401, gemini_error_body(401, str(e)))
    info = request.match_info
    if info["project"] != verifier.project:
        return _json(403, gemini_error_body(403, "Permission denied on the project"))
    if info["location"] != verifier.location:
        return _json(404, gemini_error_body(404, "Location not found"))
    if info["publisher"] not in ("google", "anthropic"):
        return _json(404, gemini_error_body(404, "Publisher model not found"))
    return None


def vertex_routes(verifier: GoogleVerifier) -> dict[str, Handler]:
    """The stand-in's POST routes (the metadata server's GET is added by
    :func:`vertex_upstream`)."""

    async def token(up: FakeUpstream, request: web.Request, body: Any,
                    b: Behavior) -> web.StreamResponse:
        uri = f"{request.scheme}://{request.host}/token"
        try:
            return web.json_response(verifier.exchange((await request.read()).decode(), uri))
        except _Refused as e:
            verifier.refusals.append(str(e))
            return web.json_response({"error": str(e), "error_description": "Invalid grant"},
                                     status=400)

    async def model(up: FakeUpstream, request: web.Request, body: Any,
                    b: Behavior) -> web.StreamResponse:
        refused = _refusal(verifier, request)
        if refused is not None:
            return refused
        call = request.match_info["call"]
        name, _, method = call.rpartition(":")
        if request.match_info["publisher"] == "anthropic":
            if method not in ("rawPredict", "streamRawPredict"):
                return _json(404, gemini_error_body(404, f"Method {method} not found"))
            return await _anthropic(up, request, name, method, body, b)
        if method == "predict":
            return _predict(body)
        return await gemini_call(up, request, call, body, b)

    path = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{call}"
    return {"/token": token, path: model}


def vertex_upstream(verifier: GoogleVerifier, reply: str | None = None) -> FakeUpstream:
    """A FakeUpstream speaking Vertex, its token endpoint and the metadata server."""
    up = FakeUpstream(routes=vertex_routes(verifier), reply=reply)

    async def metadata(request: web.Request) -> web.Response:
        if request.headers.get("Metadata-Flavor") != "Google":
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.")
        verifier.metadata_grants += 1
        return web.json_response(verifier.issue())

    up.app.router.add_get("/computeMetadata/v1/instance/service-accounts/default/token",
                          metadata)
    return up
