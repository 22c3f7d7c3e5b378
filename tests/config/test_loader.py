"""load_settings: built-in defaults, routes from provider keys, env overrides, secret refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config.loader import ConfigError, Problem, load_settings
from bastion.server import banner


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray ``bastion.yaml`` from the working directory."""
    monkeypatch.chdir(tmp_path)


def problems(path: str | Path | None, env: dict[str, str]) -> list[Problem]:
    with pytest.raises(ConfigError) as e:
        load_settings(path, env=env)
    return e.value.problems


def write(tmp_path: Path, text: str, name: str = "b.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_with_no_file_and_no_env() -> None:
    s = load_settings(None, env={})
    assert {n: p.type for n, p in s.providers.items()} == {"fake": "fake"}
    assert {"chat", "gpt-4o-mini", "claude-haiku-4-5", "embeddings"} <= set(s.models)
    assert [t.target for t in s.models["chat"].targets] == ["fake/chat"]
    assert s.models["embeddings"].kind == "embeddings"
    assert s.state.database == "sqlite:///bastion.db"
    assert s.state.redis is None
    assert (s.server.host, s.server.port, s.server.workers) == ("127.0.0.1", 8787, 1)
    assert s.admin.master_key == "env:BASTION_MASTER_KEY"
    assert (s.logging.level, s.logging.format) == ("info", "json")
    assert (s.guards.injection.action, s.guards.pii, s.guards.output.mode) == (
        "block", "pseudonymize", "block")
    # Serving canned answers must be said out loud at start-up.
    assert "FAKE provider" in banner(s)


def test_bastion_yaml_in_the_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path, "server: {port: 8123}\n", name="bastion.yaml")
    s = load_settings(None, env={})
    assert s.server.port == 8123
    assert "fake" in s.providers  # the file names no providers: the defaults fill in


def test_openai_key_in_the_environment_routes_to_openai() -> None:
    value = "sk-proj-test-0123456789abcdef"
    s = load_settings(None, env={"OPENAI_API_KEY": value})
    assert set(s.providers) == {"openai"}
    assert s.providers["openai"].type == "openai"
    assert s.providers["openai"].api_key == "env:OPENAI_API_KEY"  # a reference, not the key
    assert [t.target for t in s.models["chat"].targets] == ["openai/gpt-4o-mini"]
    assert [t.target for t in s.models["embeddings"].targets] == [
        "openai/text-embedding-3-small"]
    assert not any(t.provider == "fake" for a in s.models.values() for t in a.targets)
    assert value not in s.model_dump_json()
    assert "FAKE" not in banner(s)


def test_several_provider_keys() -> None:
    s = load_settings(None, env={"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o",
                                 "GROQ_API_KEY": "g"})
    assert set(s.providers) == {"openai", "anthropic", "groq"}
    assert s.providers["groq"].type == "openai_compatible"
    assert s.providers["groq"].base_url == "https://api.groq.com/openai/v1"
    assert s.models["chat"].targets[0].target == "openai/gpt-4o-mini"  # the first one found
    assert s.models["claude-haiku-4-5"].targets[0].provider == "anthropic"


def test_a_file_with_providers_gets_no_default_routes(tmp_path: Path) -> None:
    path = write(tmp_path, "providers: {local: {type: fake}}\n"
                           "models: {mine: {targets: [local/m]}}\n")
    s = load_settings(path, env={"OPENAI_API_KEY": "sk-x"})
    assert set(s.providers) == {"local"}
    assert set(s.models) == {"mine"}


def test_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8080\n  host: 0.0.0.0\n")
    s = load_settings(path, env={
        "BASTION__SERVER__PORT": "9001",
        "BASTION__STATE__REDIS": "redis://127.0.0.1:6379/3",
        "BASTION__STATE__DATABASE": "postgresql://bastion@db:5432/bastion",
        "BASTION__LOGGING__LEVEL": "debug",
        "BASTION__GUARDS__PII": "redact",
        "NOT_BASTION__SERVER__PORT": "1",
    })
    assert s.server.port == 9001  # the environment wins over the file
    assert s.server.host == "0.0.0.0"  # noqa: S104 - the file's value, untouched
    assert s.state.redis == "redis://127.0.0.1:6379/3"
    assert s.state.database == "postgresql://bastion@db:5432/bastion"
    assert s.logging.level == "debug"
    assert s.guards.pii == "redact"


def test_env_override_reaches_into_aliases() -> None:
    s = load_settings(None, env={"BASTION__MODELS__CHAT__FALLBACK_MESSAGE": "busy, sorry",
                                 "BASTION__PROVIDERS__FAKE__TYPE": "fake",
                                 "BASTION__MODELS__CHAT__TARGETS": "[fake/x]"})
    assert s.models["chat"].fallback_message == "busy, sorry"
    assert set(s.models) == {"chat"}  # models came from the environment: no defaults added


@pytest.mark.parametrize(("var", "path"), [
    ("BASTION__SERVER__PROT", "server.prot"),
    ("BASTION__NOPE", "nope"),
    ("BASTION__STATE__REDIS__URL", "state.redis"),
])
def test_unknown_env_override_is_rejected_with_its_path(var: str, path: str) -> None:
    [p] = problems(None, {var: "1"})
    assert p.path == path
    assert var in p.message
    assert p.line is None  # it did not come from a file line
    assert var in str(ConfigError([p]))


def test_env_override_of_the_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8080\n")
    [p] = problems(path, {"BASTION__SERVER__PORT": "eighty"})
    assert p.path == "server.port"
    assert "BASTION__SERVER__PORT" in p.message
    assert p.line is None  # not line 2: the file's value was fine


@pytest.mark.parametrize("ref", [
    "env:OPENAI_API_KEY", "file:/run/secrets/openai", "aws-sm:prod/openai#api_key",
    "vault:secret/data/openai#key",
])
def test_secret_references_are_accepted(tmp_path: Path, ref: str) -> None:
    path = write(tmp_path, f"admin: {{master_key: '{ref}'}}\n"
                           f"providers: {{openai: {{type: openai, api_key: '{ref}'}}}}\n"
                           "models: {chat: {targets: [openai/gpt-4o-mini]}}\n")
    s = load_settings(path, env={})
    assert s.providers["openai"].api_key == ref
    assert s.admin.master_key == ref


@pytest.mark.parametrize("value", [
    "sk-proj-abcdefghijklmnop0123456789", "env:", "env: SPACED", "ENV:OPENAI_API_KEY",
    "plain:thing", "http://vault/secret",
])
def test_inline_secrets_are_rejected(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, "providers:\n  openai:\n    type: openai\n"
                           f"    api_key: '{value}'\n"
                           "models: {chat: {targets: [openai/gpt-4o-mini]}}\n")
    [p] = problems(path, {})
    assert p.path == "providers.openai.api_key"
    assert p.line == 4
    assert "env:NAME" in p.message
    assert "sk-proj" not in str(ConfigError([p]))  # a secret is never echoed back


def test_inline_master_key_from_the_environment_is_rejected() -> None:
    [p] = problems(None, {"BASTION__ADMIN__MASTER_KEY": "hunter2-master"})
    assert p.path == "admin.master_key"
    assert "BASTION__ADMIN__MASTER_KEY" in p.message
    assert "hunter2" not in p.message


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: -1\n  workers: 0\nlogging:\n  level: loud\n")
    found = {(p.path, p.line) for p in problems(path, {})}
    assert found == {("server.port", 2), ("server.workers", 3), ("logging.level", 5)}


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert "fake" in load_settings(path, env={}).providers
