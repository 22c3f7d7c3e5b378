"""The dashboard over real HTTP: sign-in, sessions, CSRF, CSP, roles, pages from real data."""

from __future__ import annotations

import re

import httpx

from bastion.testing import GatewayServer

from .conftest import PASSWORD, PROVIDER_KEY, csrf_of, dashboard_settings, sign_in

PAGES = ("/ui/", "/ui/providers", "/ui/security", "/ui/keys", "/ui/review", "/ui/reports")


def test_without_a_session_every_page_redirects_to_sign_in(gw: GatewayServer) -> None:
    with httpx.Client(base_url=gw.base_url) as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303
            assert r.headers["location"].startswith("/ui/login?next=")
        assert c.post("/ui/keys", data={"name": "x"}).status_code == 403
        assert c.get("/ui/reports.csv").status_code == 303
        bogus = c.get("/ui/", headers={"cookie": "bastion_ui=bat_" + "x" * 43})
        assert bogus.status_code == 303


def test_sign_in_sets_a_strict_http_only_cookie_and_audits(gw: GatewayServer) -> None:
    with httpx.Client(base_url=gw.base_url) as c:
        page = c.get("/ui/login")
        r = c.post("/ui/login", data={"name": "ann", "password": "wrong-password-here",
                                      "csrf": csrf_of(page.text)})
        assert r.status_code == 401
        assert "do not match" in r.text
        page = c.get("/ui/login")
        r = c.post("/ui/login", data={"name": "ann", "password": PASSWORD,
                                      "csrf": csrf_of(page.text), "next": "/ui/keys"})
        assert r.status_code == 303
        assert r.headers["location"] == "/ui/keys"
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and v.startswith("bastion_ui="))
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain HTTP here; see the TLS test below
        assert c.get("/ui/keys").status_code == 200
        out = c.post("/ui/logout", data={"csrf": csrf_of(c.get("/ui/").text)})
        assert out.status_code == 303
        old = cookie.split(";")[0]
        fresh = httpx.get(gw.base_url + "/ui/", headers={"cookie": old})
        assert fresh.status_code == 303  # the session ended on the server too
    actions = [e.action for e in gw.run(gw.gateway.admins.audit.export(action="login."))]
    assert actions == ["login.failed", "login.ok"]


def test_behind_tls_the_cookie_is_secure(gw: GatewayServer) -> None:
    with httpx.Client(base_url=gw.base_url, headers={"x-forwarded-proto": "https"}) as c:
        page = c.get("/ui/login")
        r = c.post("/ui/login", data={"name": "ann", "password": PASSWORD,
                                      "csrf": csrf_of(page.text)})
        assert "Secure" in r.headers["set-cookie"]


def test_the_master_key_is_a_logged_break_glass_password(gw: GatewayServer) -> None:
    c = sign_in(gw, "", gw.master_key)
    r = c.get("/ui/")
    assert r.status_code == 200
    assert "master-key" in r.text
    entries = gw.run(gw.gateway.admins.audit.export(action="login."))
    assert [(e.actor, e.action) for e in entries] == [("master-key", "login.master-key")]
    forged = c.cookies["bastion_ui"][:-4] + "0000"
    assert httpx.get(gw.base_url + "/ui/", headers={"cookie": f"bastion_ui={forged}"}
                     ).status_code == 303


def test_a_forged_cross_site_post_is_refused(gw: GatewayServer) -> None:
    c = sign_in(gw, "ann", PASSWORD)
    csrf = csrf_of(c.get("/ui/keys").text)
    before = len(gw.run(gw.gateway.keys.list()))
    no_token = c.post("/ui/keys", data={"name": "evil"})
    wrong_token = c.post("/ui/keys", data={"name": "evil", "csrf": "0" * 40})
    other_site = c.post("/ui/keys", data={"name": "evil", "csrf": csrf},
                        headers={"origin": "https://evil.example"})
    fetch_meta = c.post("/ui/keys", data={"name": "evil", "csrf": csrf},
                        headers={"sec-fetch-site": "cross-site"})
    for r in (no_token, wrong_token, other_site, fetch_meta):
        assert r.status_code == 403
    assert len(gw.run(gw.gateway.keys.list())) == before
    ok = c.post("/ui/keys", data={"name": "good", "csrf": csrf},
                headers={"origin": gw.base_url})
    assert ok.status_code == 200
    assert len(gw.run(gw.gateway.keys.list())) == before + 1


def test_every_page_is_locked_down_and_uses_only_its_own_assets(gw: GatewayServer) -> None:
    key = gw.create_key("app")
    httpx.post(gw.openai_base_url + "/chat/completions",
               headers={"authorization": f"Bearer {key}"},
               json={"model": "paid", "messages": [{"role": "user", "content": "hi"}]})
    c = sign_in(gw, "ann", PASSWORD)
    for path in (*PAGES, "/ui/login"):
        r = c.get(path) if path != "/ui/login" else httpx.get(gw.base_url + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert PROVIDER_KEY not in r.text
        for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert ref.startswith(("/ui", "?")), (path, ref)
        assert "<script>" not in r.text  # no inline code: only data blocks and our file
        assert " style=" not in r.text
    js = c.get("/ui/static/dashboard.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert c.get("/ui/static/other.js").status_code == 404


def test_roles_decide_what_a_signed_in_account_may_do(gw: GatewayServer) -> None:
    gw.run(gw.gateway.admins.accounts.create("vic", "viewer", "a-long-password-vic"))
    c = sign_in(gw, "vic", "a-long-password-vic")
    keys = c.get("/ui/keys")
    assert keys.status_code == 200
    assert "Create key" not in keys.text
    assert c.get("/ui/review").status_code == 403
    refused = c.post("/ui/keys", data={"name": "x", "csrf": csrf_of(keys.text)})
    assert refused.status_code == 403
    audit = gw.run(gw.gateway.admins.audit.export(action="key."))
    assert [(e.actor, e.detail["outcome"]) for e in audit] == [("account:vic", "denied")]


def test_the_dashboard_can_be_turned_off() -> None:
    with GatewayServer(dashboard_settings(dashboard={"enabled": False})) as g:
        assert httpx.get(g.base_url + "/ui/login").status_code == 404
    with GatewayServer(dashboard_settings()) as g:
        assert httpx.get(g.base_url + "/ui/login").status_code == 200


def test_overview_carries_the_auto_refresh_period() -> None:
    with GatewayServer(dashboard_settings(dashboard={"auto_refresh_s": 7})) as g:
        c = sign_in(g, "", g.master_key)
        assert 'data-refresh-s="7"' in c.get("/ui/").text
        assert "every 7 s" in c.get("/ui/").text


def test_an_operator_changes_limits_and_rotates_a_key(gw: GatewayServer) -> None:
    key = gw.create_key("shop", rpm=10)
    kid = gw.run(gw.gateway.keys.list())[0].id
    c = sign_in(gw, "ann", PASSWORD)
    csrf = csrf_of(c.get("/ui/keys").text)
    r = c.post(f"/ui/keys/{kid}/limits", data={"csrf": csrf, "rpm": "", "tpm": "5000",
                                               "budget_usd": "2.5"})
    assert r.status_code == 200
    rec = gw.run(gw.gateway.keys.get(kid))
    assert (rec.rpm, rec.tpm, rec.budget_usd) == (None, 5000, 2.5)
    bad = c.post(f"/ui/keys/{kid}/limits", data={"csrf": csrf, "rpm": "-3"})
    assert bad.status_code == 400
    rotated = c.post(f"/ui/keys/{kid}/rotate", data={"csrf": csrf, "grace_s": "0"})
    new_key = re.search(r'id="new-key">([^<]+)<', rotated.text)
    assert new_key is not None
    ok = httpx.post(gw.openai_base_url + "/chat/completions",
                    headers={"authorization": f"Bearer {new_key.group(1)}"},
                    json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert ok.status_code == 200
    gw.gateway.keys.forget_cached()
    old = httpx.post(gw.openai_base_url + "/chat/completions",
                     headers={"authorization": f"Bearer {key}"},
                     json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert old.status_code == 401
    audit = gw.run(gw.gateway.admins.audit.export(action="key."))
    assert [(e.action, e.detail.get("rpm_before")) for e in audit] == [
        ("key.update", 10), ("key.update", None), ("key.rotate", None)]
    assert audit[1].detail["outcome"] == "failed"
