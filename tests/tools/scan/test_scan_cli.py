"""CLI tests through a tiny typer app that registers ``scan_command``."""

from __future__ import annotations

import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bastion.tools.scan import HookInstallError, install_pre_push_hook
from bastion.tools.scan.cli import scan_command

GIT = shutil.which("git") or "git"
ALNUM = string.ascii_letters + string.digits
RNG = random.Random()


def groq() -> str:
    return "gs" + "k_" + "".join(RNG.choices(ALNUM, k=52))


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    application.command("scan")(scan_command)

    @application.command("version")
    def version() -> None:  # a second command keeps "scan" a real subcommand
        typer.echo("0")

    return application


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["scan", *args])
    return result.exit_code, result.output


def test_scan_cli_exit_codes_and_masking(app: typer.Typer, tmp_path: Path) -> None:
    key = groq()
    (tmp_path / "clean.py").write_text("x = 1\n")
    assert run(app, str(tmp_path / "clean.py")) == (0, "No secrets found.\n")
    (tmp_path / "leak.py").write_text(f"K = '{key}'\n")
    code, out = run(app, str(tmp_path))
    assert code == 1
    assert "groq-api-key" in out
    assert "gsk_\u2026" + key[-4:] in out
    assert key not in out
    for fmt in ("--json", "--sarif"):
        code, out = run(app, fmt, str(tmp_path))
        assert code == 1
        assert key not in out
    code, out = run(app, "--show-secrets", str(tmp_path))
    assert code == 1
    assert key in out
    assert run(app, str(tmp_path / "missing"))[0] == 2
    assert run(app, "--json", "--sarif", str(tmp_path))[0] == 2


def test_scan_cli_json_and_sarif_shape(app: typer.Typer, tmp_path: Path) -> None:
    key = groq()
    (tmp_path / "leak.py").write_text(f"a = 1\nK = '{key}'\n")
    doc = json.loads(run(app, "--json", str(tmp_path))[1])
    (item,) = doc["findings"]
    assert item["detector"] == "groq-api-key"
    assert item["line"] == 2
    assert item["path"] == str(tmp_path / "leak.py")
    assert "secret" not in item
    assert doc["summary"]["total"] == 1

    sarif = json.loads(run(app, "--sarif", str(tmp_path))[1])
    assert sarif["version"] == "2.1.0"
    run0 = sarif["runs"][0]
    assert run0["tool"]["driver"]["rules"][0]["id"] == "groq-api-key"
    (result,) = run0["results"]
    assert result["ruleId"] == "groq-api-key"
    assert result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 2, "startColumn": 6}
    assert len(result["partialFingerprints"]["bastionScan/v1"]) == 64


def test_scan_cli_baseline(app: typer.Typer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    old = groq()
    (src / "a.py").write_text(f"K = '{old}'\n")
    baseline = tmp_path / "baseline.json"
    code, _ = run(app, "--write-baseline", str(baseline), str(src))
    assert code == 0
    text = baseline.read_text()
    assert old not in text
    assert json.loads(text)["findings"][0]["detector"] == "groq-api-key"
    assert run(app, "--baseline", str(baseline), str(src))[0] == 0
    (src / "b.py").write_text(f"N = '{groq()}'\n")
    code, out = run(app, "--baseline", str(baseline), "--json", str(src))
    assert code == 1
    assert [f["path"] for f in json.loads(out)["findings"]] == [str(src / "b.py")]
    baseline.write_text("{not json")
    assert run(app, "--baseline", str(baseline), str(src))[0] == 2


def test_scan_cli_install_hook(app: typer.Typer, tmp_path: Path) -> None:
    subprocess.run([GIT, "init", "-q", str(tmp_path)], check=True)  # noqa: S603 - fixed git argv
    code, _ = run(app, "--install-hook", str(tmp_path))
    assert code == 0
    hook = tmp_path / ".git" / "hooks" / "pre-push"
    script = hook.read_text()
    assert script.startswith("#!/bin/sh")
    assert "--git-history --rev-range" in script
    assert hook.stat().st_mode & 0o111
    assert install_pre_push_hook(tmp_path) == hook  # idempotent for our own hook
    hook.write_text("#!/bin/sh\necho custom\n")
    with pytest.raises(HookInstallError):
        install_pre_push_hook(tmp_path)
    assert run(app, "--install-hook", str(tmp_path / "nowhere"))[0] == 2


def test_scan_pre_push_hook_blocks_push(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    work = tmp_path / "work"
    subprocess.run([GIT, "init", "-q", "--bare", str(remote)], check=True)  # noqa: S603 - fixed git argv
    subprocess.run([GIT, "init", "-q", "-b", "main", str(work)], check=True)  # noqa: S603 - fixed git argv
    install_pre_push_hook(work)
    ident = ["-c", "user.name=T", "-c", "user.email=t@example.com"]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed git argv
            [GIT, *ident, "-C", str(work), *args], capture_output=True, text=True, check=False
        )

    (work / "a.py").write_text("x = 1\n")
    git("add", "-A")
    git("commit", "-q", "-m", "clean")
    git("remote", "add", "origin", str(remote))
    assert git("push", "-q", "origin", "main").returncode == 0
    (work / "b.py").write_text(f"K = '{groq()}'\n")
    git("add", "-A")
    git("commit", "-q", "-m", "leak")
    blocked = git("push", "-q", "origin", "main")
    assert blocked.returncode != 0
    assert "groq-api-key" in blocked.stdout + blocked.stderr
