"""The ``bastion`` command line: key lifecycle and ``check-config``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner, Result

from bastion.cli import app
from bastion.testing import GatewayServer

REPO = Path(__file__).resolve().parents[2]
KEY_LINE = re.compile(r"^bst_[A-Za-z0-9_\-]{43}$")

GOOD = """\
state:
  database: sqlite:///{db}
providers:
  fake:
    type: fake
models:
  chat:
    targets: [fake/m1]
  embeddings:
    kind: embeddings
    targets: [fake/embed]
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the CLI reads from the environment must come from the test, not the shell."""
    for name in list(os.environ):
        if name.startswith("BASTION__") or name == "BASTION_KEY_HASH_SECRET":
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(GOOD.format(db=tmp_path / "b.db"))
    return path


def bastion(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def create(config: Path, *extra: str) -> tuple[str, str]:
    """Create a key with the CLI; return (id, key)."""
    r = bastion("keys", "create", "--name", "svc", *extra, "--config", config)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 1  # stdout holds the key and nothing else, for scripts
    assert KEY_LINE.match(lines[0])
    found = re.search(r"id:\s+(key_[0-9a-f]+)", r.stderr)
    assert found is not None
    assert lines[0] not in r.stderr
    return found.group(1), lines[0]


def test_keys_create_list_revoke(config: Path) -> None:
    key_id, key = create(config, "--user", "alice", "--models", "chat, embeddings", "--rpm",
                         "5", "--budget-usd", "2.5", "--expires", "30d")
    other_id, other = create(config)

    listed = bastion("keys", "list", "--config", config)
    assert listed.exit_code == 0
    assert key_id in listed.stdout
    assert other_id in listed.stdout
    assert "user=alice" in listed.stdout
    assert "models=chat,embeddings" in listed.stdout
    line = next(x for x in listed.stdout.splitlines() if key_id in x)
    assert "budget=$2.50 spent=$0.0000 expires=20" in line
    assert line.endswith(" active")
    other_line = next(x for x in listed.stdout.splitlines() if other_id in x)
    assert "budget=none" in other_line
    assert "expires=never" in other_line
    for secret in (key, other, key[8:], other[8:]):
        assert secret not in listed.output

    as_json = bastion("keys", "list", "--json", "--config", config)
    assert as_json.exit_code == 0
    records = {r["id"]: r for r in json.loads(as_json.stdout)}
    assert set(records) == {key_id, other_id}
    rec = records[key_id]
    assert (rec["user"], rec["models"], rec["rpm"], rec["budget_usd"]) == (
        "alice", ["chat", "embeddings"], 5, 2.5)
    assert rec["expires_at"] - rec["created_at"] == pytest.approx(30 * 86400)
    assert (rec["spend_usd"], rec["requests"]) == (0.0, 0)
    assert "key" not in rec
    assert key not in as_json.output

    revoked = bastion("keys", "revoke", key_id, "--config", config)
    assert revoked.exit_code == 0
    assert f"revoked {key_id}" in revoked.stdout
    after = bastion("keys", "list", "--json", "--config", config)
    states = {r["id"]: r["revoked_at"] is not None for r in json.loads(after.stdout)}
    assert states == {key_id: True, other_id: False}

    missing = bastion("keys", "revoke", "key_0000", "--config", config)
    assert missing.exit_code == 1
    assert "No key with id key_0000" in missing.stderr
    assert "Traceback" not in missing.output


def test_cli_keys_work_on_the_gateway_and_rotate(config: Path, tmp_path: Path) -> None:
    key_id, key = create(config, "--models", "chat")
    settings = {"providers": {"fake": {"type": "fake"}},
                "models": {"chat": {"targets": ["fake/m1"]}},
                "state": {"database": f"sqlite:///{tmp_path / 'b.db'}", "key_cache_ttl_s": 0}}
    with GatewayServer(settings) as gw:
        def works(k: str) -> bool:
            c = openai.OpenAI(base_url=gw.openai_base_url, api_key=k, max_retries=0)
            try:
                c.chat.completions.create(model="chat",
                                          messages=[{"role": "user", "content": "hi"}])
            except openai.AuthenticationError:
                return False
            return True

        assert works(key)
        r = bastion("keys", "rotate", key_id, "--grace", "1h", "--config", config)
        assert r.exit_code == 0, r.output
        new = r.stdout.strip()
        assert KEY_LINE.match(new)
        assert new != key
        assert "1h" in r.stderr
        assert works(key)  # the old key keeps working for the grace hour
        assert works(new)

        r = bastion("keys", "rotate", key_id, "--grace", "0", "--config", config)
        newest = r.stdout.strip()
        assert not works(key)  # no grace: both older keys stop at once
        assert not works(new)
        assert works(newest)

        assert bastion("keys", "revoke", key_id, "--config", config).exit_code == 0
        assert not works(newest)


@pytest.mark.parametrize("grace", ["soon", "-1h", "1y"])
def test_rotate_rejects_bad_durations(config: Path, grace: str) -> None:
    key_id, _ = create(config)
    r = bastion("keys", "rotate", key_id, "--grace", grace, "--config", config)
    assert r.exit_code == 2
    assert "not a duration" in r.output


def test_check_config_accepts_a_good_file(config: Path) -> None:
    r = bastion("check-config", config)
    assert r.exit_code == 0
    assert "OK: 1 providers, 2 models" in r.stdout


def test_check_config_accepts_the_example() -> None:
    r = bastion("check-config", REPO / "bastion.example.yaml")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("OK:")


BAD = {
    "unknown key": ("""\
server:
  port: 8080
  prot: 8081
""", "server.prot", 3, "unknown key"),
    "wrong type": ("""\
server:
  host: 0.0.0.0
  port: eighty
""", "server.port", 3, "valid integer"),
    "inline secret": ("""\
providers:
  openai:
    type: openai
    api_key: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789
models:
  chat: {targets: [openai/gpt-4o-mini]}
""", "providers.openai.api_key", 4, "env:NAME"),
    "unknown provider": ("""\
providers:
  fake: {type: fake}
models:
  chat:
    targets:
      - fake/m1
      - opneai/gpt-4o
""", "models.chat.targets.1", 7, "'opneai'"),
    "invalid yaml": ("""\
providers:
  fake: {type: fake}
models:
  chat:
    targets: [fake/m1
  other: 1
""", "", 6, "not valid YAML"),
    "a list at the top": ("- 1\n- 2\n", "", 1, "mapping"),
    "review out of range": ("""\
providers:
  fake: {type: fake}
models:
  chat:
    targets: [fake/m1]
    review: {min_confidence: 1.5, action: hold}
""", "models.chat.review.min_confidence", 6, "less than or equal to 1"),
    "unknown provider type": ("""\
providers:
  fake:
    type: faek
""", "providers.fake.type", 3, "'fake'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_check_config_names_path_and_line(tmp_path: Path, case: str) -> None:
    text, path, line, fragment = BAD[case]
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    r = bastion("check-config", file)
    assert r.exit_code == 1
    assert str(file) in r.stderr
    assert f"line {line}: " in r.stderr
    if path:
        assert f"line {line}: {path}: " in r.stderr
    assert fragment in r.stderr
    assert "sk-proj-abcdef" not in r.output  # never echo a secret back
    assert "Traceback" not in r.output
    assert r.stdout == ""


def test_check_config_warns_on_unresolvable_keys_and_strict_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASTION_TEST_UNSET_KEY", raising=False)
    file = tmp_path / "c.yaml"
    file.write_text("""\
providers:
  oa: {type: openai, api_key: env:BASTION_TEST_UNSET_KEY}
  an: {type: anthropic, api_key: "file:/nonexistent/key"}
models:
  chat: {targets: [oa/gpt-x, an/claude-x]}
""")
    r = bastion("check-config", file)
    assert r.exit_code == 0
    assert "providers.oa.api_key (env:BASTION_TEST_UNSET_KEY): the environment variable " \
        "BASTION_TEST_UNSET_KEY is not set" in r.stderr
    assert "providers.an.api_key (file:/nonexistent/key): the file" in r.stderr
    strict = bastion("check-config", "--strict", file)
    assert strict.exit_code == 1
    assert "--strict" in strict.stderr
    monkeypatch.setenv("BASTION_TEST_UNSET_KEY", "sk-set-now")
    key_file = tmp_path / "key"
    key_file.write_text("sk-ant-x")
    file.write_text(file.read_text().replace("/nonexistent/key", str(key_file)))
    assert bastion("check-config", "--strict", file).exit_code == 0


def test_serve_on_a_taken_port_is_one_line(config: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_module("serve", "--config", str(config), "--port", str(port))
    assert r.returncode == 1
    assert r.stderr.strip() == (f"bastion: Port {port} on 127.0.0.1 is already in use. Stop "
                                "what is using it, or choose another port with --port (or "
                                "server.port in the config).")
    assert "listening" not in r.stderr


def test_banner_says_where_state_lives_and_how_to_enable_admin() -> None:
    from bastion.config.settings import Settings
    from bastion.server import banner

    s = Settings.model_validate({"state": {"database": "postgresql://u:pw@db:5432/b",
                                           "redis": "redis://r:6379/0"}})
    monkey_env = os.environ.pop("BASTION_MASTER_KEY", None)
    try:
        text = banner(s)
    finally:
        if monkey_env is not None:
            os.environ["BASTION_MASTER_KEY"] = monkey_env
    assert "State: postgresql://…@db:5432/b; Redis" in text
    assert "pw" not in text
    assert "Admin API: disabled (the environment variable BASTION_MASTER_KEY is not set)" in text
    assert "Set BASTION_MASTER_KEY" in text


def test_check_config_on_a_missing_file(tmp_path: Path) -> None:
    r = bastion("check-config", tmp_path / "nope.yaml")
    assert r.exit_code == 1
    assert "cannot read the file" in r.stderr


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION__")}
    return subprocess.run(  # noqa: S603 - a fixed argv: this interpreter and our module
        [sys.executable, "-m", "bastion.cli", *args], capture_output=True, text=True, env=env,
        timeout=60, check=False)


def test_the_installed_entry_point(tmp_path: Path, config: Path) -> None:
    """``python -m bastion.cli`` exits 0 on a good file and 1 with the line on a bad one."""
    good = run_module("check-config", str(config))
    assert good.returncode == 0, good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD["unknown key"][0])
    r = run_module("check-config", str(bad))
    assert r.returncode == 1
    assert "line 3: server.prot: unknown key" in r.stderr
