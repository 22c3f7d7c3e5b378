"""aws-sm: and vault: secret references, resolved over real HTTP.

AWS Secrets Manager is moto in server mode on loopback (secrets created with
boto3, read back through our SigV4 resolver); Vault is a small aiohttp server
implementing the KV v2 read endpoint and checking the token and namespace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

from bastion.config.remote_secrets import aws_sm_resolver, sigv4_headers, vault_resolver
from bastion.config.secrets import SecretError, SecretSource, default_resolvers

AWS_KEY_ID = "AKIDEXAMPLE000000000"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
VAULT_TOKEN = "hvs.test-vault-token-0123456789"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws_env(url: str, **extra: str) -> dict[str, str]:
    return {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "AWS_ENDPOINT_URL": url, **extra}


def sm_client(url: str) -> Any:
    return boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=url,
                        aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET)


def test_sigv4_matches_botocore() -> None:
    """Our signer and botocore's agree byte for byte (moto does not check signatures)."""
    now = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    url = "https://secretsmanager.eu-west-1.amazonaws.com/"
    body = b'{"SecretId": "prod/openai"}'
    base = {"Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.GetSecretValue"}
    for token in (None, "session-token-xyz"):
        ours = sigv4_headers(method="POST", url=url, headers=base, body=body,
                             region="eu-west-1", service="secretsmanager",
                             access_key=AWS_KEY_ID, secret_key=AWS_SECRET,
                             session_token=token, now=now)
        # botocore's add_auth() reads the clock; run its steps with a fixed timestamp
        req = AWSRequest(method="POST", url=url, data=body, headers=dict(base))
        req.context["timestamp"] = "20240506T070809Z"
        auth = SigV4Auth(Credentials(AWS_KEY_ID, AWS_SECRET, token), "secretsmanager",
                         "eu-west-1")
        auth._modify_request_before_signing(req)
        canonical = auth.canonical_request(req)
        signature = auth.signature(auth.string_to_sign(req, canonical), req)
        assert ours["Authorization"].endswith(f"Signature={signature}")
        assert f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(req))}," in (
            ours["Authorization"])
        assert ours.get("X-Amz-Security-Token") == token


async def test_aws_sm_plain_and_json_field(moto_url: str) -> None:
    sm = sm_client(moto_url)
    sm.create_secret(Name="bastion/plain", SecretString="sk-plain-value-123\n")
    sm.create_secret(Name="bastion/json",
                     SecretString=json.dumps({"openai": "sk-from-json", "port": 5432}))
    resolve = aws_sm_resolver(aws_env(moto_url))
    assert await resolve("bastion/plain") == "sk-plain-value-123"
    assert await resolve("bastion/json#openai") == "sk-from-json"
    assert await resolve("bastion/json#port") == "5432"
    arn = sm.describe_secret(SecretId="bastion/plain")["ARN"]
    # an ARN carries its region: no AWS_REGION needed
    env = aws_env(moto_url)
    del env["AWS_REGION"]
    assert await aws_sm_resolver(env)(arn) == "sk-plain-value-123"
    # through the registry, with a session token, via the service-specific endpoint variable
    env = aws_env("http://127.0.0.1:9", AWS_SESSION_TOKEN="tok",
                  AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url)
    src = SecretSource("aws-sm:bastion/json#openai", default_resolvers(env))
    assert (await src.get()).reveal() == "sk-from-json"


@pytest.mark.parametrize(("locator", "env_change", "fragment"), [
    ("bastion/missing", {}, "ResourceNotFoundException"),
    ("bastion/json2#nope", {}, "no field 'nope'"),
    ("bastion/plain2#field", {}, "not JSON"),
    ("bastion/plain2", {"AWS_ACCESS_KEY_ID": ""}, "AWS_ACCESS_KEY_ID"),
    ("bastion/plain2", {"AWS_REGION": ""}, "AWS_REGION"),
    ("bastion/plain2", {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach"),
])
async def test_aws_sm_errors_never_hold_secrets(
    moto_url: str, locator: str, env_change: dict[str, str], fragment: str
) -> None:
    sm = sm_client(moto_url)
    for name, value in (("bastion/json2", json.dumps({"k": "sk-json2-secret"})),
                        ("bastion/plain2", "sk-plain2-secret")):
        with contextlib.suppress(sm.exceptions.ResourceExistsException):
            sm.create_secret(Name=name, SecretString=value)
    env = {k: v for k, v in {**aws_env(moto_url), **env_change}.items() if v}
    with pytest.raises(SecretError) as e:
        await aws_sm_resolver(env)(locator)
    msg = str(e.value)
    assert fragment in msg
    for secret in ("sk-json2-secret", "sk-plain2-secret", AWS_SECRET):
        assert secret not in msg


@pytest.fixture
async def vault() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A KV v2 read endpoint: mounts ``secret`` and ``kv``; records request headers."""
    store = {("secret", "bastion/openai"): {"api_key": "sk-vault-openai", "org": "o1"},
             ("kv", "team/gemini"): {"key": "AIza-vault-gemini"}}
    seen: list[dict[str, str]] = []

    async def read(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if request.headers.get("X-Vault-Token") != VAULT_TOKEN:
            return web.json_response({"errors": ["permission denied"]}, status=403)
        data = store.get((request.match_info["mount"], request.match_info["path"]))
        if data is None:
            return web.json_response({"errors": []}, status=404)
        return web.json_response({"data": {"data": data, "metadata": {"version": 3}}})

    app = web.Application()
    app.router.add_get("/v1/{mount}/data/{path:.+}", read)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), seen
    await server.close()


async def test_vault_kv2(vault: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = vault
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": VAULT_TOKEN, "VAULT_NAMESPACE": "team-a"}
    resolve = vault_resolver(env)
    assert await resolve("bastion/openai#api_key") == "sk-vault-openai"
    assert await resolve("kv/data/team/gemini#key") == "AIza-vault-gemini"
    assert await resolve("kv/data/team/gemini") == "AIza-vault-gemini"  # the only field
    assert await vault_resolver({**env, "VAULT_KV_MOUNT": "kv"})("team/gemini") == (
        "AIza-vault-gemini")
    assert all(h["X-Vault-Namespace"] == "team-a" for h in seen)
    src = SecretSource("vault:bastion/openai#org", default_resolvers(env))
    assert (await src.get()).reveal() == "o1"


@pytest.mark.parametrize(("locator", "env_change", "fragment"), [
    ("bastion/openai#api_key", {"VAULT_TOKEN": "hvs.wrong-token-987"}, "refused the token"),
    ("bastion/nothing#api_key", {}, "no such secret"),
    ("bastion/openai#missing", {}, "no field 'missing'"),
    ("bastion/openai", {}, "holds 2 fields"),
    ("bastion/openai#api_key", {"VAULT_TOKEN": ""}, "VAULT_TOKEN"),
    ("bastion/openai#api_key", {"VAULT_ADDR": "http://127.0.0.1:9"}, "cannot reach"),
])
async def test_vault_errors_never_hold_secrets(
    vault: tuple[str, list[dict[str, str]]], locator: str, env_change: dict[str, str],
    fragment: str,
) -> None:
    url, _ = vault
    env = {k: v for k, v in {"VAULT_ADDR": url, "VAULT_TOKEN": VAULT_TOKEN,
                             **env_change}.items() if v}
    with pytest.raises(SecretError) as e:
        await vault_resolver(env)(locator)
    msg = str(e.value)
    assert fragment in msg
    for secret in ("sk-vault-openai", VAULT_TOKEN, "hvs.wrong-token-987"):
        assert secret not in msg
