"""The key lifecycle end to end over HTTP: admin API, the openai SDK, two replicas."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openai
import pytest

from bastion.testing import GatewayServer, fake_settings

MSG = [{"role": "user", "content": "hello there"}]


@functools.cache
def http() -> httpx.Client:
    """One client for the module: a new httpx client costs tens of ms (its TLS context)."""
    return httpx.Client(timeout=10.0)


@pytest.fixture(autouse=True, scope="module")
def _close_http() -> Iterator[None]:
    yield
    http().close()
    http.cache_clear()


def admin(gw: GatewayServer, method: str, path: str, json: Any = None,
          token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or gw.master_key}"}
    return http().request(method, gw.base_url + path, json=json, headers=headers)


def new_key(gw: GatewayServer, **spec: Any) -> dict[str, Any]:
    r = admin(gw, "POST", "/admin/keys", {"name": "svc", **spec})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def client(gw: GatewayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0,
                         http_client=http())


def chat(gw: GatewayServer, key: str, model: str = "chat") -> str | None:
    r = client(gw, key).chat.completions.create(model=model, messages=MSG)  # type: ignore[arg-type]
    return r.choices[0].message.content


def refused(gw: GatewayServer, key: str) -> str | None:
    """The error code the gateway answers ``key`` with (None if it accepts it)."""
    try:
        chat(gw, key)
    except openai.AuthenticationError as e:
        return e.code
    return None


def wait_until(cond: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``cond()`` holds; fails after ``timeout_s``."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - start


def test_create_shows_the_key_once(gateway: GatewayServer) -> None:
    body = new_key(gateway, user="alice", team="red", models=["chat"], rpm=10)
    key = body["key"]
    assert key.startswith("bst_")
    assert len(key) == 47
    assert body["id"].startswith("key_")
    assert (body["user"], body["team"], body["models"], body["rpm"]) == (
        "alice", "red", ["chat"], 10)
    assert chat(gateway, key) == "You said: hello there"

    listing = admin(gateway, "GET", "/admin/keys")
    assert listing.status_code == 200
    [shown] = [k for k in listing.json()["data"] if k["id"] == body["id"]]
    assert "key" not in shown
    assert shown["prefix"] == key[:8]
    key_hash = gateway.run(gateway.gateway.keys.hash_key(key))
    assert key not in listing.text
    assert key[8:] not in listing.text
    assert key_hash not in listing.text
    assert "hash" not in listing.text


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"name": " "}, "name"),
    ({"name": "x", "rpm": 0}, "rpm"),
    ({"name": "x", "models": ["nope"]}, "nope"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_create_rejects_bad_specs(gateway: GatewayServer, spec: dict[str, Any],
                                  fragment: str) -> None:
    r = admin(gateway, "POST", "/admin/keys", spec)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_request"
    assert fragment in r.json()["error"]["message"]


def test_revoked_key_is_refused_at_once(gateway: GatewayServer) -> None:
    body = new_key(gateway)
    assert chat(gateway, body["key"])  # now cached as valid
    r = admin(gateway, "DELETE", f"/admin/keys/{body['id']}")
    assert r.status_code == 200
    assert r.json() == {"id": body["id"], "revoked": True}
    assert refused(gateway, body["key"]) == "invalid_api_key"
    [shown] = [k for k in admin(gateway, "GET", "/admin/keys").json()["data"]
               if k["id"] == body["id"]]
    assert shown["revoked_at"] is not None
    missing = admin(gateway, "DELETE", "/admin/keys/key_nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_expired_key_is_refused(gateway: GatewayServer) -> None:
    body = new_key(gateway, expires_in_s=0.4)
    assert body["expires_at"] is not None
    assert chat(gateway, body["key"])  # cached as valid, with its expiry
    time.sleep(0.5)
    assert refused(gateway, body["key"]) == "invalid_api_key"


@pytest.mark.parametrize("key", [
    "bst_" + "A" * 43,  # the right shape, but no such key
    "bst_short",
    "sk-proj-" + "a" * 40,
    "bst_" + "A" * 42 + "!",
])
def test_unknown_and_malformed_keys(gateway: GatewayServer, key: str) -> None:
    assert refused(gateway, key) == "invalid_api_key"


def test_scoped_key_on_another_alias(gateway: GatewayServer) -> None:
    key = new_key(gateway, models=["embeddings"])["key"]
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(gateway, key)
    assert e.value.status_code == 403
    assert e.value.code == "model_not_allowed"
    assert client(gateway, key).embeddings.create(model="embeddings", input="x").data


def test_rotation_grace(gateway: GatewayServer) -> None:
    body = new_key(gateway)
    old = body["key"]
    assert chat(gateway, old)
    r = admin(gateway, "POST", f"/admin/keys/{body['id']}/rotate", {"grace_s": 0.6})
    assert r.status_code == 200
    new = r.json()["key"]
    assert new != old
    assert new.startswith("bst_")
    assert r.json()["id"] == body["id"]
    assert r.json()["old_key_valid_for_s"] == 0.6
    assert chat(gateway, old)  # inside the grace period both work
    assert chat(gateway, new)
    time.sleep(0.7)
    assert refused(gateway, old) == "invalid_api_key"
    assert chat(gateway, new)
    assert new not in admin(gateway, "GET", "/admin/keys").text


def test_rotation_without_body_and_of_dead_keys(gateway: GatewayServer) -> None:
    body = new_key(gateway)
    r = http().post(f"{gateway.base_url}/admin/keys/{body['id']}/rotate",
                   headers={"Authorization": f"Bearer {gateway.master_key}"})
    assert r.status_code == 200
    assert r.json()["old_key_valid_for_s"] == 3600.0  # the default grace
    assert chat(gateway, body["key"])
    assert chat(gateway, r.json()["key"])
    admin(gateway, "DELETE", f"/admin/keys/{body['id']}")
    assert refused(gateway, r.json()["key"]) == "invalid_api_key"
    gone = admin(gateway, "POST", f"/admin/keys/{body['id']}/rotate", {"grace_s": 1})
    assert gone.status_code == 404
    assert admin(gateway, "POST", "/admin/keys/key_nothing/rotate").status_code == 404


ADMIN_ROUTES = [
    ("POST", "/admin/keys", {"name": "sneaky"}),
    ("GET", "/admin/keys", None),
    ("DELETE", "/admin/keys/{id}", None),
    ("POST", "/admin/keys/{id}/rotate", {"grace_s": 1}),
    ("GET", "/admin/keys/{id}/usage", None),
    ("GET", "/admin/users/alice/data", None),
    ("DELETE", "/admin/users/alice/data", None),
]


@pytest.mark.parametrize("auth", [
    None, "Bearer wrong-master-key", "Bearer", "Basic dGVzdDp0ZXN0", "{master}",
    "Bearer {key}",
])
def test_admin_routes_need_the_master_key(gateway: GatewayServer, auth: str | None) -> None:
    body = new_key(gateway, user="alice")
    chat(gateway, body["key"])
    for method, path, payload in ADMIN_ROUTES:
        headers = {}
        if auth is not None:
            headers["Authorization"] = auth.format(master=gateway.master_key, key=body["key"])
        r = http().request(method, gateway.base_url + path.format(id=body["id"]), json=payload,
                          headers=headers)
        assert r.status_code == 401, (method, path)
        assert r.json()["error"]["code"] == "invalid_master_key"
        for secret in (body["key"], body["id"], gateway.master_key, "alice", "sneaky"):
            assert secret not in r.text
    # Nothing happened behind the refusals.
    listing = admin(gateway, "GET", "/admin/keys").json()["data"]
    assert [(k["id"], k["revoked_at"], k["user"]) for k in listing] == [
        (body["id"], None, "alice")]
    assert chat(gateway, body["key"])


def test_admin_without_a_configured_master_key_refuses_everything() -> None:
    settings = {**fake_settings(), "admin": {"master_key": None}}
    with GatewayServer(settings) as gw:
        r = admin(gw, "GET", "/admin/keys")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_master_key"
        assert "BASTION_MASTER_KEY" in r.json()["error"]["message"]  # how to turn it on
    settings = {**fake_settings(), "admin": {"master_key": "env:NOT_SET_ANYWHERE"}}
    with GatewayServer(settings) as gw:
        r = admin(gw, "GET", "/admin/keys", token="anything")
        assert r.status_code == 401
        assert "master key" in r.json()["error"]["message"]
        assert "BASTION_MASTER_KEY" in r.json()["error"]["message"]


def test_key_usage_counts_traffic(gateway: GatewayServer) -> None:
    body = new_key(gateway, models=["chat"])
    c = client(gateway, body["key"])
    prompt = completion = 0
    for i in range(3):
        r = c.chat.completions.create(model="chat",
                                      messages=[{"role": "user", "content": f"count me {i}"}])
        assert r.usage is not None
        prompt += r.usage.prompt_tokens
        completion += r.usage.completion_tokens
    chunks = list(c.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "and stream me too"}], stream=True,
        stream_options={"include_usage": True}))
    last = chunks[-1].usage
    assert last is not None
    prompt += last.prompt_tokens
    completion += last.completion_tokens
    with pytest.raises(openai.PermissionDeniedError):
        c.embeddings.create(model="embeddings", input="not allowed")  # a refusal counts too

    other = new_key(gateway)
    chat(gateway, other["key"])

    r = admin(gateway, "GET", f"/admin/keys/{body['id']}/usage")
    assert r.status_code == 200
    usage = r.json()
    assert usage["requests"] == usage["served"] == 4
    assert usage["refused"] == 1
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
    assert usage["spend_usd"] >= 0
    assert admin(gateway, "GET", f"/admin/keys/{other['id']}/usage").json()["requests"] == 1
    assert admin(gateway, "GET", "/admin/keys/key_nothing/usage").status_code == 404


def test_data_subject_export_and_erasure(gateway: GatewayServer) -> None:
    user = "user-" + uuid.uuid4().hex[:8]
    mine = new_key(gateway, user=user)
    theirs = new_key(gateway, user="someone-else")
    secret_prompt = "my card number is 4111 1111 1111 1111"
    c = client(gateway, mine["key"])
    for _ in range(2):
        c.chat.completions.create(model="chat",
                                  messages=[{"role": "user", "content": secret_prompt}])
    chat(gateway, theirs["key"])

    export = admin(gateway, "GET", f"/admin/users/{user}/data")
    assert export.status_code == 200
    data = export.json()
    assert data["user"] == user
    assert [k["id"] for k in data["keys"]] == [mine["id"]]
    assert len(data["usage"]) == 2
    assert {u["key_id"] for u in data["usage"]} == {mine["id"]}
    assert secret_prompt not in export.text  # the usage log never holds prompt text
    assert "4111" not in export.text
    assert mine["key"] not in export.text

    erase = admin(gateway, "DELETE", f"/admin/users/{user}/data")
    assert erase.status_code == 200
    assert erase.json()["user"] == user
    assert erase.json()["deleted_usage_rows"] == 2
    after = admin(gateway, "GET", f"/admin/users/{user}/data").json()
    assert after["keys"] == []
    assert after["usage"] == []
    # The key still works, but what it does from now on is no longer tied to the person.
    assert chat(gateway, mine["key"])
    assert admin(gateway, "GET", f"/admin/users/{user}/data").json()["usage"] == []
    assert len(admin(gateway, "GET", "/admin/users/someone-else/data").json()["usage"]) == 1


@pytest.fixture(params=["sqlite", "postgres"])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL two replicas share: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'b.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    schema = "bastion_test_" + uuid.uuid4().hex[:12]
    yield f"{url}{'&' if '?' in url else '?'}schema={schema}"

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def replica(db_url: str, secret: str) -> GatewayServer:
    settings = {**fake_settings(), "state": {"database": db_url, "key_cache_ttl_s": 0.2}}
    return GatewayServer(settings, env={"BASTION_KEY_HASH_SECRET": secret})


def test_another_replica_sees_a_revocation_within_the_cache_ttl(shared_db: str) -> None:
    secret = uuid.uuid4().hex
    with replica(shared_db, secret) as a, replica(shared_db, secret) as b:
        body = new_key(a)
        key = body["key"]
        expected = hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()
        assert b.run(b.gateway.keys.hash_key(key)) == expected  # the shared env secret
        assert chat(a, key)
        assert chat(b, key)  # B now holds the key in its cache
        assert admin(a, "DELETE", f"/admin/keys/{body['id']}").status_code == 200
        revoked_at = time.monotonic()
        assert refused(a, key) == "invalid_api_key"  # at once where it was revoked
        # B refuses once its cache entry (TTL 0.2 s) has run out; allow for slow machines.
        wait_until(lambda: refused(b, key) == "invalid_api_key", timeout_s=1.2)
        assert time.monotonic() - revoked_at < 1.2
        # A key created on B works on A, and usage from both lands in one place.
        other = new_key(b)
        assert chat(a, other["key"])
        assert chat(b, other["key"])
        b.run(b.gateway.recorder.flush())
        usage = admin(a, "GET", f"/admin/keys/{other['id']}/usage").json()
        assert usage["requests"] == 2
