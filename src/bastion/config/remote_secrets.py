"""Resolvers for secrets kept in AWS Secrets Manager and HashiCorp Vault.

Both speak plain HTTP through aiohttp with short time-outs, and read their
settings from the environment mapping they are given (never ``os.environ``
directly, so tests and embedders inject it). Failures raise
:class:`~bastion.config.secrets.SecretError` whose message names the reference
and the reason, never the secret, the token or the vendor's raw answer.

``aws-sm:secret-id[#field]``
    ``GetSecretValue`` (JSON 1.1 protocol), signed with SigV4 here (no boto3 at
    run time). ``secret-id`` is a name or an ARN; with ``#field`` the secret
    string is a JSON object and the field's value is used. Settings:
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (an ARN's own region wins),
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``
    (optional), and ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` or ``AWS_ENDPOINT_URL``
    (optional, e.g. for a VPC endpoint or a local emulator). Credentials come
    from those variables only: no profiles, no instance metadata.

``vault:path#field``
    KV version 2: ``GET {VAULT_ADDR}/v1/{mount}/data/{path}`` with
    ``X-Vault-Token: {VAULT_TOKEN}`` (and ``X-Vault-Namespace: {VAULT_NAMESPACE}``
    when set); the value is ``data.data[field]``. The mount is ``VAULT_KV_MOUNT``
    (default ``secret``), or is named in the reference by writing the API path
    itself: ``vault:kv/data/openai#api_key`` reads mount ``kv``, path ``openai``
    (the form Vault policies use). Without ``#field`` the secret must hold
    exactly one field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from bastion.config.secrets import Resolver, SecretError

TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3, sock_read=5)
_MAX_BODY = 1024 * 1024


# --- AWS SigV4 -------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    *, method: str, url: str, headers: Mapping[str, str], body: bytes, region: str,
    service: str, access_key: str, secret_key: str, session_token: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``Host``, ``X-Amz-Date`` (and the session token) and a SigV4
    ``Authorization`` over all of them, for a request without a query string."""
    now = now or dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    parts = urlsplit(url)
    out = {**headers, "Host": parts.netloc, "X-Amz-Date": amz_date}
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    canon = sorted((k.lower(), " ".join(v.split())) for k, v in out.items())
    signed = ";".join(k for k, _ in canon)
    canonical_request = "\n".join([
        method, quote(parts.path or "/", safe="/-_.~"), parts.query,
        "".join(f"{k}:{v}\n" for k, v in canon), signed, hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={signed}, Signature={signature}")
    return out


# --- shared ----------------------------------------------------------------------------


def _field(data: Any, field: str | None, what: str) -> str:
    """``data[field]`` as text (or the only value when ``field`` is None)."""
    if not isinstance(data, dict):
        raise SecretError(f"{what}: the secret is not a JSON object, so #field cannot apply")
    if field is None:
        if len(data) != 1:
            raise SecretError(f"{what}: the secret holds {len(data)} fields; name one with #field")
        field = next(iter(data))
    value = data.get(field)
    if value is None:
        raise SecretError(f"{what}: the secret has no field {field!r}")
    if isinstance(value, bool | dict | list):
        raise SecretError(f"{what}: field {field!r} is not a string")
    text = str(value).strip()
    if not text:
        raise SecretError(f"{what}: field {field!r} is empty")
    return text


async def _request(method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                   what: str) -> tuple[int, bytes]:
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.request(
                method, url, data=body, headers=dict(headers), allow_redirects=False) as resp:
            return resp.status, await resp.content.read(_MAX_BODY)
    except TimeoutError:
        raise SecretError(f"{what}: no answer in time from {_origin(url)}") from None
    except (aiohttp.ClientError, OSError) as e:
        raise SecretError(f"{what}: cannot reach {_origin(url)} ({type(e).__name__})") from None


def _origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}" + (f":{p.port}" if p.port else "")


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise SecretError(f"{what}: the answer is not JSON") from None


# --- AWS Secrets Manager ---------------------------------------------------------------


def _aws_region(secret_id: str, env: Mapping[str, str]) -> str:
    if secret_id.startswith("arn:"):
        fields = secret_id.split(":")
        if len(fields) > 3 and fields[3]:
            return fields[3]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise SecretError("aws-sm: set AWS_REGION (or AWS_DEFAULT_REGION)")
    return region


def _aws_error(status: int, raw: bytes, what: str) -> SecretError:
    kind = ""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        kind = str(data.get("__type", "")).rpartition("#")[2]
    kind = "".join(c for c in kind if c.isalnum())[:80]  # an AWS error name, nothing else
    return SecretError(f"{what}: AWS answered HTTP {status} {kind}".rstrip())


def aws_sm_resolver(env: Mapping[str, str]) -> Resolver:
    """``aws-sm:secret-id[#field]`` (see the module docstring)."""

    async def resolve(locator: str) -> str:
        secret_id, sep, field = locator.partition("#")
        what = f"aws-sm:{secret_id}"
        access_key = env.get("AWS_ACCESS_KEY_ID")
        secret_key = env.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise SecretError(f"{what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        region = _aws_region(secret_id, env)
        endpoint = (env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or env.get("AWS_ENDPOINT_URL")
                    or f"https://secretsmanager.{region}.amazonaws.com")
        url = endpoint.rstrip("/") + "/"
        body = json.dumps({"SecretId": secret_id}).encode()
        headers = sigv4_headers(
            method="POST", url=url, body=body, region=region, service="secretsmanager",
            access_key=access_key, secret_key=secret_key,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "secretsmanager.GetSecretValue"})
        status, raw = await _request("POST", url, headers, body, what)
        if status != 200:
            raise _aws_error(status, raw, what)
        data = _json(raw, what)
        text = data.get("SecretString") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise SecretError(f"{what}: the secret has no SecretString (binary secrets are "
                              "not supported)")
        if not sep:
            if not text.strip():
                raise SecretError(f"{what}: the secret is empty")
            return text.strip()  # a stray newline would make an invalid HTTP header
        return _field(_json(text.encode(), what), field, what)

    return resolve


# --- HashiCorp Vault -------------------------------------------------------------------


def vault_url(addr: str, locator_path: str, default_mount: str) -> str:
    """The KV v2 read URL for ``path`` or ``mount/data/path`` (see the module docstring)."""
    path = locator_path.strip("/")
    mount, sep, rest = path.partition("/data/")
    if not sep or not mount or not rest:
        mount, rest = default_mount.strip("/"), path
    return f"{addr.rstrip('/')}/v1/{quote(mount)}/data/{quote(rest)}"


def vault_resolver(env: Mapping[str, str]) -> Resolver:
    """``vault:[mount/data/]path[#field]`` (see the module docstring)."""

    async def resolve(locator: str) -> str:
        path, sep, field = locator.partition("#")
        what = f"vault:{path}"
        addr = env.get("VAULT_ADDR")
        token = env.get("VAULT_TOKEN")
        if not addr or not token:
            raise SecretError(f"{what}: set VAULT_ADDR and VAULT_TOKEN")
        if not path.strip("/"):
            raise SecretError("vault: the reference names no path")
        url = vault_url(addr, path, env.get("VAULT_KV_MOUNT") or "secret")
        headers = {"X-Vault-Token": token, "Accept": "application/json"}
        if env.get("VAULT_NAMESPACE"):
            headers["X-Vault-Namespace"] = env["VAULT_NAMESPACE"]
        status, raw = await _request("GET", url, headers, None, what)
        if status in (401, 403):
            raise SecretError(f"{what}: Vault refused the token (HTTP {status}); check "
                              "VAULT_TOKEN and its policy")
        if status == 404:
            raise SecretError(f"{what}: no such secret (or the mount is not KV version 2)")
        if status != 200:
            raise SecretError(f"{what}: Vault answered HTTP {status}")
        data = _json(raw, what)
        inner = data.get("data") if isinstance(data, dict) else None
        values = inner.get("data") if isinstance(inner, dict) else None
        return _field(values, field if sep else None, what)

    return resolve
