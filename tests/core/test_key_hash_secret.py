"""The HMAC secret of virtual keys lives apart from the database when configured
(``state.key_hash_secret``), and the SQLite file is the owner's alone (issue 9, 13)."""

from __future__ import annotations

import hashlib
import hmac
import io
import sqlite3
from pathlib import Path

import httpx

from bastion.testing import GatewayServer, fake_settings

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def create_and_use(gw: GatewayServer) -> str:
    r = httpx.post(gw.base_url + "/admin/keys", json={"name": "app"},
                   headers={"Authorization": f"Bearer {gw.master_key}"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    ok = httpx.post(gw.openai_base_url + "/chat/completions", json=CHAT,
                    headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200, ok.text
    return str(key)


def test_a_configured_secret_stays_out_of_the_database(tmp_path: Path) -> None:
    secret_file = tmp_path / "hash-secret"
    secret_file.write_text("a-long-random-secret-kept-in-a-vault-0123456789\n")
    db = tmp_path / "bastion.db"
    settings = {**fake_settings(), "state": {"database": f"sqlite:///{db}",
                                             "key_hash_secret": f"file:{secret_file}"}}
    with GatewayServer(settings) as gw:
        key = create_and_use(gw)
    with sqlite3.connect(db) as conn:
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        hashes = {h for (h,) in conn.execute("SELECT hash FROM key_hashes")}
    assert "key_hash_secret" not in meta
    expected = hmac.new(b"a-long-random-secret-kept-in-a-vault-0123456789", key.encode(),
                        hashlib.sha256).hexdigest()
    assert hashes == {expected}
    assert db.stat().st_mode & 0o777 == 0o600


def test_the_database_fallback_is_kept_and_said(tmp_path: Path, captured: io.StringIO) -> None:
    db = tmp_path / "bastion.db"
    settings = {**fake_settings(), "state": {"database": f"sqlite:///{db}"}}
    with GatewayServer(settings) as gw:
        create_and_use(gw)
    assert "key_hash_secret_in_database" in captured.getvalue()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE name = 'key_hash_secret'"
                            ).fetchone() == (1,)


def test_a_configured_secret_beside_an_old_database_one_is_warned_about(
        tmp_path: Path, captured: io.StringIO) -> None:
    db = tmp_path / "bastion.db"
    with GatewayServer({**fake_settings(), "state": {"database": f"sqlite:///{db}"}}) as gw:
        create_and_use(gw)
    assert "key_hash_secret_differs" not in captured.getvalue()
    settings = {**fake_settings(), "state": {"database": f"sqlite:///{db}",
                                             "key_hash_secret": "env:HASH_SECRET"}}
    with GatewayServer(settings, env={"HASH_SECRET": "another-secret-0123456789"}):
        pass
    assert "key_hash_secret_differs" in captured.getvalue()
