"""Admin credentials other than accounts: OIDC sign-in, the logged master key, reloads."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from bastion.reload import on_sighup
from bastion.testing import FakeIdentityProvider, GatewayServer

from .conftest import http
from .test_admin_roles import PASSWORD, account, admin_settings, call, entries


@pytest.fixture
def sso(idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]
        ) -> GatewayServer:
    oidc: dict[str, Any] = {"issuer": idp.issuer, "audience": "bastion-admin",
                            "jwks_url": idp.jwks_url, "role_claim": "groups",
                            "actor_claim": "email",
                            "roles": {"bastion-ops": "operator", "bastion-review": "reviewer"}}
    return gateway_factory(admin_settings(oidc=[oidc]))


def test_oidc_tokens_are_admin_credentials_with_mapped_roles(
        idp: FakeIdentityProvider, sso: GatewayServer) -> None:
    token = idp.token("sub-9", aud="bastion-admin", email="ops@example.com",
                      groups=["everyone", "bastion-ops", "bastion-review"])
    me = call(sso, "GET", "/admin/whoami", token).json()
    assert me == {"actor": "oidc:ops@example.com", "role": "operator", "via": "oidc",
                  "account": None, "token_id": None,
                  "grants": ["operator", "reviewer", "viewer"]}
    assert call(sso, "POST", "/admin/keys", token, {"name": "sso"}).status_code == 201
    assert call(sso, "GET", "/admin/accounts", token).status_code == 403
    assert ("oidc:ops@example.com", "key.create") in [
        (e["actor"], e["action"]) for e in entries(sso)]
    # A valid sign-in without a mapped group holds no role; a caller token is no admin's.
    nobody = idp.token(aud="bastion-admin", email="x@example.com", groups=["everyone"])
    r = call(sso, "GET", "/admin/whoami", nobody)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "insufficient_role"
    wrong_aud = idp.token(email="x@example.com", groups=["bastion-ops"])
    r = call(sso, "GET", "/admin/whoami", wrong_aud)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_admin_token"
    assert "another audience" in r.json()["error"]["message"]


def test_the_master_key_is_logged_and_audited_when_used(
        gateway_factory: Callable[..., GatewayServer], captured: io.StringIO) -> None:
    gw = gateway_factory(admin_settings())
    assert call(gw, "GET", "/admin/keys").status_code == 200
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    [used] = [e for e in lines if e["event"] == "admin_master_key_used"]
    assert used["level"] == "warning"
    assert (used["method"], used["path"], used["source"]) == ("GET", "/admin/keys",
                                                              "127.0.0.1")
    assert gw.master_key not in captured.getvalue()
    call(gw, "POST", "/admin/keys", body={"name": "k"})
    assert ("master-key", "key.create") in [(e["actor"], e["action"]) for e in entries(gw)]


def test_a_config_reload_is_audited(gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(admin_settings())

    async def hup() -> None:  # what SIGHUP does, on the server's loop
        on_sighup(gw.gateway)
        await asyncio.sleep(0.05)

    gw.run(hup())
    reloads = entries(gw, action="config.reload")
    assert [(e["actor"], e["source"]) for e in reloads] == [("system:signal", "local")]


def test_a_changed_hashing_cost_rehashes_at_the_next_login(
        gateway_factory: Callable[..., GatewayServer], tmp_path: Any) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    with GatewayServer({**admin_settings(), "state": {"database": db}}) as first:
        account(first, "ann", "viewer")
    stronger = admin_settings(password_hashing={"time_cost": 2, "memory_kib": 9216,
                                                "parallelism": 1})
    second = gateway_factory({**stronger, "state": {"database": db}})
    assert http().post(second.base_url + "/admin/login",
                       json={"name": "ann", "password": PASSWORD}).status_code == 200
    rows = second.run(second.gateway.db.sql_fetch(
        "SELECT password_hash FROM admin_accounts WHERE name = 'ann'"))
    assert "$m=9216,t=2,p=1$" in rows[0][0]


def test_oidc_with_a_static_key_its_algorithms_and_skew(
        idp: FakeIdentityProvider, tmp_path: Any,
        gateway_factory: Callable[..., GatewayServer]) -> None:
    pem = tmp_path / "idp.pem"
    pem.write_text(idp.signing.public_pem())
    gw = gateway_factory(admin_settings(oidc=[{
        "issuer": idp.issuer, "audience": "bastion", "public_key": f"file:{pem}",
        "algorithms": ["RS256"], "clock_skew_s": 0, "roles": {"ops": "viewer"}}]))
    assert call(gw, "GET", "/admin/whoami", idp.token(groups="ops")).status_code == 200
    late = call(gw, "GET", "/admin/whoami", idp.token(groups="ops", ttl_s=-2))
    assert "expired" in late.json()["error"]["message"]
    ec = idp.add_key("ES256")
    r = call(gw, "GET", "/admin/whoami", idp.token(groups="ops", key=ec))
    assert "does not accept 'ES256'" in r.json()["error"]["message"]
    assert idp.jwks_requests == 0


def test_oidc_key_sets_are_refreshed_and_bounded(
        idp: FakeIdentityProvider, gateway_factory: Callable[..., GatewayServer]) -> None:
    base = {"issuer": idp.issuer, "audience": "bastion", "jwks_url": idp.jwks_url,
            "roles": {"ops": "viewer"}}
    slow = gateway_factory(admin_settings(oidc=[{**base, "jwks_min_refresh_s": 3600,
                                                 "jwks_refresh_s": 1}]))
    fetched = idp.jwks_requests
    idp.rotate()
    token = idp.token(groups="ops")
    assert call(slow, "GET", "/admin/whoami", token).status_code == 401  # no fetch yet
    assert idp.jwks_requests == fetched
    deadline = time.monotonic() + 5
    while call(slow, "GET", "/admin/whoami", token).status_code != 200:
        assert time.monotonic() < deadline, "the background refresh never came"
        time.sleep(0.2)
    bounded = gateway_factory(admin_settings(oidc=[{**base, "jwks_min_refresh_s": 0,
                                                    "jwks_timeout_ms": 500}]))
    idp.mode = "hang"
    t0 = time.monotonic()
    r = call(bounded, "GET", "/admin/whoami", idp.token(groups="ops", key=idp.rotate()))
    assert r.status_code == 401
    assert time.monotonic() - t0 < 2.5
