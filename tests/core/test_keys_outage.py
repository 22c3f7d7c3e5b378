"""A database outage does not stop traffic: keys read before it keep working on their
last good record for ``state.key_stale_s``; a key that cannot be checked is a 503 with
``Retry-After``, never a 500."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from tests.private_services import PrivatePostgres

from bastion.testing import GatewayServer


def settings(pg: PrivatePostgres, **state: Any) -> dict[str, Any]:
    return {
        "providers": {"fake": {"type": "fake"}},
        "models": {"chat": {"targets": ["fake/m"]}},
        "state": {"database": f"{pg.url}?schema=keys_{uuid.uuid4().hex[:10]}",
                  "key_cache_ttl_s": 0.2, **state},
        "usage": {"spill_dir": None},
    }


def chat(gw: GatewayServer, key: str) -> httpx.Response:
    return httpx.post(gw.openai_base_url + "/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})


def admin(gw: GatewayServer, method: str, path: str) -> httpx.Response:
    return httpx.request(method, gw.base_url + path, timeout=10,
                         headers={"Authorization": f"Bearer {gw.master_key}"})


def test_known_keys_keep_working_and_unknown_ones_get_503(
        private_postgres: PrivatePostgres) -> None:
    with GatewayServer(settings(private_postgres, key_stale_s=30)) as gw:
        key = gw.create_key()
        unknown = gw.create_key()  # exists, but this gateway has never looked it up
        assert chat(gw, key).status_code == 200
        private_postgres.stop()
        time.sleep(0.3)  # past the cache TTL: the record must be read again, and cannot
        for _ in range(3):
            assert chat(gw, key).status_code == 200
        r = chat(gw, unknown)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "service_unavailable"
        assert int(r.headers["Retry-After"]) >= 1
        assert "Traceback" not in r.text
        # the admin API says the same, never 500
        assert admin(gw, "GET", "/admin/keys").status_code == 503
        assert httpx.get(gw.base_url + "/readyz").status_code == 503
        private_postgres.start()
        deadline = time.monotonic() + 10
        while chat(gw, unknown).status_code != 200:
            assert time.monotonic() < deadline, "the key never worked after the outage"
            time.sleep(0.2)


def test_a_revocation_applies_once_the_database_is_back(
        private_postgres: PrivatePostgres) -> None:
    # two gateways on one database: the revocation is made on the other replica
    s = settings(private_postgres, key_stale_s=30)
    with GatewayServer(s) as a, GatewayServer(s) as b:
        key = a.create_key()
        key_id = a.run(a.gateway.keys.list())[0].id
        assert chat(b, key).status_code == 200
        assert admin(a, "DELETE", f"/admin/keys/{key_id}").status_code == 200
        private_postgres.stop()
        time.sleep(0.3)
        assert chat(b, key).status_code == 200  # B cannot know yet: the trade-off
        private_postgres.start()
        deadline = time.monotonic() + 10
        while chat(b, key).status_code != 401:
            assert time.monotonic() < deadline, "the revocation never applied"
            time.sleep(0.2)


@pytest.mark.parametrize("stale_s", [0.5])
def test_stale_records_are_used_for_key_stale_s_only(
        private_postgres: PrivatePostgres, stale_s: float) -> None:
    with GatewayServer(settings(private_postgres, key_stale_s=stale_s)) as gw:
        key = gw.create_key()
        assert chat(gw, key).status_code == 200
        private_postgres.stop()
        assert chat(gw, key).status_code == 200
        time.sleep(0.2 + stale_s + 0.2)
        r = chat(gw, key)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "service_unavailable"
