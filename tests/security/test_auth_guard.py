"""Failed authentication is throttled per client address and logged at a bounded rate,
and a short master key stops the gateway from starting (bastion.auth_guard), over HTTP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.auth_guard import AuthThrottle, address_key
from bastion.config.security_settings import AuthThrottleSettings
from bastion.testing import GatewayServer, fake_settings

CHEAP_HASHING = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}  # fast test sign-in
THROTTLE = {"max_failures": 5, "window_s": 60, "block_s": 30,
            "client_address_header": "X-Real-IP"}


@pytest.fixture
def gw() -> Iterator[GatewayServer]:
    settings = {**fake_settings(), "security": {"auth_throttle": THROTTLE},
                "auth": {"admin": {"password_hashing": CHEAP_HASHING}}}
    with GatewayServer(settings) as server:
        yield server


def admin(gw: GatewayServer, token: str, ip: str) -> httpx.Response:
    return httpx.get(gw.base_url + "/admin/keys",
                     headers={"Authorization": f"Bearer {token}", "X-Real-IP": ip})


def chat(gw: GatewayServer, key: str, ip: str, path: str = "/v1/chat/completions"
         ) -> httpx.Response:
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": "x"}]}
    if path == "/v1/messages":
        body["max_tokens"] = 10
    return httpx.post(gw.base_url + path, json=body,
                      headers={"Authorization": f"Bearer {key}", "X-Real-IP": ip})


def test_master_key_guesses_are_throttled_per_address(gw: GatewayServer) -> None:
    codes = [admin(gw, f"guess-{i:040d}", "203.0.113.7").status_code for i in range(12)]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 7
    blocked = admin(gw, gw.master_key, "203.0.113.7")  # even the right key: no oracle
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_auth_failures"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 30
    assert admin(gw, gw.master_key, "198.51.100.9").status_code == 200  # others unaffected


def test_virtual_key_guesses_are_throttled_on_every_route(gw: GatewayServer) -> None:
    good = gw.create_key()
    bad = "bst_" + "A" * 43
    ip = "2001:db8:1:2::17"
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/models"):
        r = chat(gw, bad, ip, path) if path != "/v1/models" else httpx.get(
            gw.base_url + path, headers={"Authorization": f"Bearer {bad}", "X-Real-IP": ip})
        assert r.status_code == 401
    for _ in range(2):
        assert chat(gw, bad, ip).status_code == 401
    # the same /64: the same client, however it varies the rest of its address
    r = chat(gw, good, "2001:db8:1:2:ffff::1")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_auth_failures"
    assert chat(gw, good, "2001:db8:1:3::17").status_code == 200


def _lines(buf: io.StringIO, event: str) -> list[dict[str, Any]]:
    return [d for d in map(json.loads, buf.getvalue().splitlines()) if d.get("event") == event]


def test_failures_are_logged_at_a_bounded_rate_without_the_key(captured: io.StringIO) -> None:
    throttle = {**THROTTLE, "log_interval_s": 600}
    with GatewayServer({**fake_settings(), "security": {"auth_throttle": throttle}}) as gw:
        secret = "bst_" + "Z" * 43
        for i in range(30):
            chat(gw, secret, f"192.0.2.{i}")
    lines = _lines(captured, "auth_failed")
    assert len(lines) == 1, lines  # 30 failures, one line per interval
    assert lines[0]["address"] == "192.0.2.0"
    assert secret not in captured.getvalue()


def test_a_log_line_says_how_many_were_left_out(captured: io.StringIO) -> None:
    now = [0.0]
    throttle = AuthThrottle(AuthThrottleSettings(log_interval_s=1.0), clock=lambda: now[0])
    for i in range(12):
        throttle.failed(f"10.0.0.{i}", "virtual_key", "/v1/chat/completions")
        now[0] += 0.25
    lines = _lines(captured, "auth_failed")
    assert [ln["suppressed"] for ln in lines] == [0, 3, 3]


def test_failures_outside_the_window_do_not_add_up() -> None:
    throttle = {**THROTTLE, "window_s": 0.5}
    with GatewayServer({**fake_settings(), "security": {"auth_throttle": throttle}}) as gw:
        for _ in range(3):
            for _ in range(4):  # one short of max_failures per window
                assert admin(gw, "nope", "203.0.113.50").status_code == 401
            time.sleep(0.6)
        assert admin(gw, gw.master_key, "203.0.113.50").status_code == 200


def test_the_throttle_is_a_setting(gw: GatewayServer) -> None:
    settings = {**fake_settings(),
                "security": {"auth_throttle": {**THROTTLE, "enabled": False}}}
    with GatewayServer(settings) as off:
        codes = {admin(off, "nope", "203.0.113.7").status_code for _ in range(10)}
    assert codes == {401}


def test_readyz_names_providers_only_to_the_master_key(gw: GatewayServer) -> None:
    anon = httpx.get(gw.base_url + "/readyz").json()
    assert anon == {"status": "ready"}
    full = httpx.get(gw.base_url + "/readyz",
                     headers={"Authorization": f"Bearer {gw.master_key}"}).json()
    assert full["providers"] == ["fake"]
    wrong = httpx.get(gw.base_url + "/readyz", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 200
    assert "providers" not in wrong.json()


def test_address_keys() -> None:
    assert address_key("10.0.0.1") == "10.0.0.1"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key(None) == "?"


# ---- a master key shorter than 32 characters is refused at start-up ------------------------

def test_a_short_master_key_stops_the_gateway_from_starting() -> None:
    with pytest.raises(Exception, match="BASTION_MASTER_KEY is 1 characters long"):
        GatewayServer(fake_settings(), env={"BASTION_MASTER_KEY": "x"}).start()


def test_bastion_serve_refuses_a_short_master_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text("state: {database: 'memory://'}\nserver: {port: 0}\n")
    env: dict[str, Any] = {**os.environ, "BASTION_MASTER_KEY": "change-me"}
    r = subprocess.run(  # noqa: S603 - a fixed argv: this interpreter and our module
        [sys.executable, "-m", "bastion.cli", "serve", "--config", str(cfg)], env=env,
        capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert "BASTION_MASTER_KEY is 9 characters long" in r.stderr
    assert "at least 32" in r.stderr
    assert "Traceback" not in r.stderr


def test_password_guesses_at_admin_login_are_throttled(gw: GatewayServer) -> None:
    password = "correct horse battery staple"
    r = httpx.post(gw.base_url + "/admin/accounts",
                   headers={"Authorization": f"Bearer {gw.master_key}"},
                   json={"name": "ann", "role": "viewer", "password": password})
    assert r.status_code == 201, r.text

    def login(pw: str, ip: str) -> httpx.Response:
        return httpx.post(gw.base_url + "/admin/login", headers={"X-Real-IP": ip},
                          json={"name": "ann", "password": pw})

    codes = [login(f"guess {i}", "203.0.113.99").status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2
    assert login(password, "203.0.113.99").status_code == 429
    assert login(password, "198.51.100.99").status_code == 200
