"""Admin accounts over HTTP: sign-in, the role each route needs, scoped tokens, the audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bastion.testing import GatewayServer, fake_settings

from .conftest import http

CHEAP = {"password_hashing": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}}
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "operator", "reviewer", "viewer")


def admin_settings(**admin: Any) -> dict[str, Any]:
    return {**fake_settings(), "auth": {"admin": {**CHEAP, **admin}}}


def call(gw: GatewayServer, method: str, path: str, token: str | None = None,
         body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or gw.master_key}"}
    return http().request(method, gw.base_url + path, json=body, headers=headers)


def account(gw: GatewayServer, name: str, role: str) -> str:
    """Create ``name`` with ``role`` (master key) and sign in: the session token."""
    r = call(gw, "POST", "/admin/accounts", body={"name": name, "role": role,
                                                   "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = http().post(gw.base_url + "/admin/login", json={"name": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@pytest.fixture
def gw(gateway_factory: Callable[..., GatewayServer]) -> GatewayServer:
    return gateway_factory(admin_settings())


@pytest.fixture
def sessions(gw: GatewayServer) -> dict[str, str]:
    return {role: account(gw, role + "-1", role) for role in ROLES}


# (method, path, body, the role it needs). {key} is a fresh key for each call.
ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/admin/keys", None, "viewer"),
    ("GET", "/admin/keys/{key}/usage", None, "viewer"),
    ("GET", "/admin/breakers", None, "viewer"),
    ("GET", "/admin/whoami", None, "viewer"),
    ("GET", "/admin/tokens", None, "viewer"),
    ("POST", "/admin/keys", {"name": "k"}, "operator"),
    ("POST", "/admin/keys/{key}/rotate", None, "operator"),
    ("PATCH", "/admin/keys/{key}", {"rpm": 5}, "operator"),
    ("DELETE", "/admin/keys/{key}", None, "operator"),
    ("GET", "/admin/users/u1/data", None, "admin"),
    ("DELETE", "/admin/users/u1/data", None, "admin"),
    ("GET", "/admin/accounts", None, "admin"),
    ("POST", "/admin/accounts", {"name": "new-one", "role": "viewer", "password": PASSWORD},
     "admin"),
    ("PATCH", "/admin/accounts/viewer-1", {"role": "viewer"}, "admin"),
    ("GET", "/admin/audit", None, "admin"),
]
ALLOWED = {"admin": set(ROLES), "operator": {"operator", "viewer"},
           "reviewer": {"reviewer", "viewer"}, "viewer": {"viewer"}}


def test_each_role_is_refused_where_it_may_not_go(gw: GatewayServer,
                                                  sessions: dict[str, str]) -> None:
    for method, path, body, needs in ROUTES:
        for role, token in sessions.items():
            key_id = gw.run(gw.gateway.keys.create("target")).record.id
            r = call(gw, method, path.format(key=key_id), token, body)
            if needs in ALLOWED[role]:
                assert r.status_code < 400 or (r.status_code == 400 and "exists" in r.text), \
                    (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.text)
                err = r.json()["error"]
                assert err["code"] == "insufficient_role"
                assert f"needs the {needs} role" in err["message"]
    # Without any credential: 401, never 403.
    r = http().get(gw.base_url + "/admin/keys")
    assert r.status_code == 401


def entries(gw: GatewayServer, **query: str) -> list[dict[str, Any]]:
    r = http().get(gw.base_url + "/admin/audit", params=query,
                   headers={"Authorization": f"Bearer {gw.master_key}"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def test_every_admin_action_is_audited_with_its_actor(
        gw: GatewayServer, sessions: dict[str, str]) -> None:
    op, adm, viewer = sessions["operator"], sessions["admin"], sessions["viewer"]
    made = call(gw, "POST", "/admin/keys", op, {"name": "Alice's laptop", "user": "alice",
                                                "rpm": 5}).json()
    rotated = call(gw, "POST", f"/admin/keys/{made['id']}/rotate", op, {"grace_s": 10}).json()
    call(gw, "DELETE", f"/admin/keys/{made['id']}", op)
    call(gw, "GET", "/admin/users/alice/data", adm)
    call(gw, "DELETE", "/admin/users/alice/data", adm)
    call(gw, "PATCH", "/admin/accounts/reviewer-1", adm, {"role": "viewer"})
    minted = call(gw, "POST", "/admin/tokens", viewer, {"label": "grafana"}).json()
    call(gw, "DELETE", f"/admin/tokens/{minted['id']}", viewer)
    call(gw, "DELETE", "/admin/keys/whatever", viewer)  # refused: audited as denied
    http().post(gw.base_url + "/admin/login", json={"name": "viewer-1", "password": "nope"})
    http().post(gw.base_url + "/admin/login", json={"name": PASSWORD, "password": "x"})
    call(gw, "POST", "/admin/keys", None, {"name": "by the master key"})
    log = entries(gw)
    got = [(e["actor"], e["action"], e["detail"].get("outcome")) for e in log]
    for row in [("account:operator-1", "key.create", "ok"),
                ("account:operator-1", "key.rotate", "ok"),
                ("account:operator-1", "key.revoke", "ok"),
                ("account:admin-1", "user.export", "ok"),
                ("account:admin-1", "user.erase", "ok"),
                ("account:admin-1", "account.update", "ok"),
                ("account:viewer-1", "token.create", "ok"),
                ("account:viewer-1", "token.revoke", "ok"),
                ("account:viewer-1", "key.revoke", "denied"),
                ("account:viewer-1", "login.failed", None),
                ("unknown", "login.failed", None),
                ("master-key", "key.create", "ok")]:
        assert row in got, row
    created = next(e for e in log if e["action"] == "key.create")
    assert created["target"] == made["id"]
    assert created["detail"]["rpm"] == 5
    assert created["source"] == "127.0.0.1"
    assert created["ts"] == pytest.approx(time.time(), abs=60)
    # No secret and no personal data beyond the actor's id.
    text = str(log)
    for secret in (made["key"], rotated["key"], minted["token"], PASSWORD, *sessions.values(),
                   gw.master_key, "alice", "Alice"):
        assert secret not in text
    # Yet an auditor who knows the user's id finds what happened to their data.
    about = entries(gw, user="alice")
    assert [e["action"] for e in about] == ["user.export", "user.erase"]


def test_audit_export_formats_and_filters(gw: GatewayServer,
                                          sessions: dict[str, str]) -> None:
    call(gw, "POST", "/admin/keys", sessions["operator"], {"name": "k"})
    keys_only = entries(gw, action="key.", since="1h")
    assert {e["action"] for e in keys_only} == {"key.create"}
    assert entries(gw, actor="account:nobody") == []
    csv = http().get(gw.base_url + "/admin/audit", params={"format": "csv"},
                     headers={"Authorization": f"Bearer {gw.master_key}"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "id,ts,time,actor,action,target,source,detail"
    bad = call(gw, "GET", "/admin/audit?since=yesterday-ish")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "since"


def test_scoped_tokens_never_exceed_their_scope_or_account(
        gw: GatewayServer, sessions: dict[str, str]) -> None:
    op = sessions["operator"]
    scoped = call(gw, "POST", "/admin/tokens", op, {"role": "viewer", "label": "ci"})
    assert scoped.status_code == 201
    viewer_token = scoped.json()["token"]
    assert call(gw, "GET", "/admin/keys", viewer_token).status_code == 200
    assert call(gw, "POST", "/admin/keys", viewer_token, {"name": "x"}).status_code == 403
    # A token cannot mint a wider one, nor can a role mint one it lacks.
    assert call(gw, "POST", "/admin/tokens", viewer_token,
                {"role": "operator"}).status_code == 403
    assert call(gw, "POST", "/admin/tokens", op, {"role": "admin"}).status_code == 403
    # Nor manage another account's tokens.
    assert call(gw, "POST", "/admin/tokens", op, {"account": "admin-1"}).status_code == 403
    # Lowering the account's role narrows the tokens it already holds.
    full = call(gw, "POST", "/admin/tokens", op, {}).json()["token"]
    assert call(gw, "POST", "/admin/keys", full, {"name": "x"}).status_code == 201
    call(gw, "PATCH", "/admin/accounts/operator-1", sessions["admin"], {"role": "viewer"})
    assert call(gw, "POST", "/admin/keys", full, {"name": "x"}).status_code == 403
    # Disabling an account ends its sessions and tokens at once.
    call(gw, "DELETE", "/admin/accounts/operator-1", sessions["admin"])
    r = call(gw, "GET", "/admin/keys", full)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_admin_token"
    assert http().post(gw.base_url + "/admin/login", json={
        "name": "operator-1", "password": PASSWORD}).status_code == 401


def test_sessions_logout_and_password_change(gw: GatewayServer,
                                             sessions: dict[str, str]) -> None:
    me = call(gw, "GET", "/admin/whoami", sessions["reviewer"]).json()
    assert me["actor"] == "account:reviewer-1"
    assert me["via"] == "session"
    assert me["grants"] == ["reviewer", "viewer"]
    assert call(gw, "POST", "/admin/logout", sessions["reviewer"]).status_code == 200
    assert call(gw, "GET", "/admin/whoami", sessions["reviewer"]).status_code == 401
    v = sessions["viewer"]
    bad = call(gw, "POST", "/admin/password", v, {"current": "wrong", "new": "x" * 12})
    assert bad.json()["error"]["code"] == "invalid_credentials"
    short = call(gw, "POST", "/admin/password", v, {"current": PASSWORD, "new": "short"})
    assert short.json()["error"]["param"] == "password"
    ok = call(gw, "POST", "/admin/password", v, {"current": PASSWORD, "new": "n" * 14})
    assert ok.status_code == 200
    assert call(gw, "GET", "/admin/whoami", v).status_code == 401  # sessions ended
    assert http().post(gw.base_url + "/admin/login", json={
        "name": "viewer-1", "password": "n" * 14}).status_code == 200


def test_session_and_token_lifetimes(gateway_factory: Callable[..., GatewayServer]) -> None:
    gw = gateway_factory(admin_settings(session_ttl_s=60, token_max_ttl_s=120))
    call(gw, "POST", "/admin/accounts", body={"name": "a", "role": "admin",
                                              "password": PASSWORD})
    login = http().post(gw.base_url + "/admin/login", json={"name": "a", "password": PASSWORD})
    assert login.json()["expires_at"] == pytest.approx(time.time() + 60, abs=5)
    session = login.json()["token"]
    too_long = call(gw, "POST", "/admin/tokens", session, {"expires_in_s": 121})
    assert too_long.status_code == 400
    default = call(gw, "POST", "/admin/tokens", session, {}).json()
    assert default["expires_at"] == pytest.approx(time.time() + 120, abs=5)
    short = call(gw, "POST", "/admin/tokens", session, {"expires_in_s": 1}).json()["token"]
    assert call(gw, "GET", "/admin/whoami", short).status_code == 200
    time.sleep(1.1)
    assert call(gw, "GET", "/admin/whoami", short).status_code == 401


def test_password_hashing_cost_is_the_configured_one(gw: GatewayServer) -> None:
    account(gw, "costly", "viewer")
    rows = gw.run(gw.gateway.db.sql_fetch(
        "SELECT password_hash FROM admin_accounts WHERE name = ?", "costly"))
    assert "$m=8192,t=1,p=1$" in rows[0][0]
    assert PASSWORD not in rows[0][0]


def test_a_budget_change_applies_and_is_audited(gw: GatewayServer,
                                                sessions: dict[str, str]) -> None:
    from .conftest import chat

    op = sessions["operator"]
    made = call(gw, "POST", "/admin/keys", op, {"name": "svc", "rpm": 100,
                                                "budget_usd": 5}).json()
    assert chat(gw, made["key"]).status_code == 200
    r = call(gw, "PATCH", f"/admin/keys/{made['id']}", op, {"rpm": 1, "budget_usd": None})
    assert r.status_code == 200, r.text
    assert (r.json()["rpm"], r.json()["budget_usd"], r.json()["tpm"]) == (1, None, None)
    assert chat(gw, made["key"]).status_code == 429  # the new limit, at once
    bad = call(gw, "PATCH", f"/admin/keys/{made['id']}", op, {"rpm": 0})
    assert bad.json()["error"]["param"] == "rpm"
    assert call(gw, "PATCH", "/admin/keys/key_nope", op, {"rpm": 1}).status_code == 404
    [change] = [e for e in entries(gw, action="key.update") if e["detail"]["outcome"] == "ok"]
    assert change["actor"] == "account:operator-1"
    assert change["target"] == made["id"]
    assert {k: change["detail"][k] for k in ("rpm", "rpm_before", "budget_usd",
                                             "budget_usd_before")} == {
        "rpm": 1, "rpm_before": 100, "budget_usd": None, "budget_usd_before": 5}
