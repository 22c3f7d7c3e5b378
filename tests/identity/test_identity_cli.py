"""``bastion admin …`` and ``bastion audit export`` on a real database, used by a gateway."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bastion.cli import app
from bastion.testing import GatewayServer

from .conftest import http
from .test_admin_roles import CHEAP, PASSWORD, admin_settings


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump({
        "state": {"database": f"sqlite:///{tmp_path / 'b.db'}", "key_cache_ttl_s": 0},
        "auth": {"admin": CHEAP}}))
    return path


def run(config: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [*args, "--config", str(config)], input=stdin)
    return r.exit_code, r.stdout, r.stderr


def test_accounts_and_tokens_from_the_command_line(config: Path) -> None:
    code, out, _ = run(config, "admin", "create", "--name", "Root", "--role", "admin",
                       "--password-stdin", stdin=PASSWORD + "\n")
    assert (code, out) == (0, "created admin account root\n")
    code, _, err = run(config, "admin", "create", "--name", "bob", "--role", "viewer",
                       "--password-stdin", stdin="short\n")
    assert code == 1
    assert "12 to 1024 characters" in err
    code, out, err = run(config, "admin", "token", "root", "--role", "viewer", "--expires", "1h",
                         "--label", "grafana")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("bat_")
    assert "shown once" in err
    db = yaml.safe_load(config.read_text())["state"]["database"]
    with GatewayServer({**admin_settings(), "state": {"database": db,
                                                      "key_cache_ttl_s": 0}}) as gw:
        def whoami() -> int:
            return http().get(gw.base_url + "/admin/whoami",
                              headers={"Authorization": f"Bearer {token}"}).status_code

        assert whoami() == 200
        assert run(config, "admin", "set-role", "root", "operator")[0] == 0
        assert run(config, "admin", "disable", "root")[0] == 0
        assert whoami() == 401
    code, out, _ = run(config, "admin", "list", "--json")
    assert [(a["name"], a["role"], a["disabled"]) for a in json.loads(out)] == [
        ("root", "operator", True)]


def test_audit_export_from_the_command_line(config: Path, tmp_path: Path) -> None:
    run(config, "admin", "create", "--name", "ann", "--role", "viewer", "--password-stdin",
        stdin=PASSWORD + "\n")
    run(config, "admin", "token", "ann")
    code, out, _ = run(config, "audit", "export", "--format", "csv", "--since", "1h")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "id,ts,time,actor,action,target,source,detail"
    me = "cli:" + getpass.getuser()
    assert f"{me},account.create,account:ann,cli" in out
    assert f"{me},token.create,tok_" in out
    assert "bat_" not in out
    dest = tmp_path / "audit.jsonl"
    code, _, _ = run(config, "audit", "export", "--action", "account.", "--out", str(dest))
    assert code == 0
    rows = [json.loads(line) for line in dest.read_text().splitlines()]
    assert [r["action"] for r in rows] == ["account.create"]
    code, _, err = run(config, "audit", "export", "--since", "last tuesday")
    assert code == 1
    assert "duration ago" in err
