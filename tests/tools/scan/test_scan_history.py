"""Git history tests on real temporary repositories."""

from __future__ import annotations

import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from bastion.tools.scan import GitError, scan_git_history

GIT = shutil.which("git") or "git"
ALNUM = string.ascii_letters + string.digits
RNG = random.Random()


def groq() -> str:
    return "gs" + "k_" + "".join(RNG.choices(ALNUM, k=52))


def git(repo: Path, *args: str) -> str:
    cmd = [GIT, "-c", "user.name=Test", "-c", "user.email=test@example.com", "-C", str(repo)]
    proc = subprocess.run([*cmd, *args], check=True, capture_output=True, text=True)  # noqa: S603 - fixed git argv
    return proc.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run([GIT, "init", "-q", "-b", "main", str(tmp_path)], check=True)  # noqa: S603 - fixed git argv
    return tmp_path


def test_scan_history_finds_deleted_key_with_commit_and_line(repo: Path) -> None:
    old, live = groq(), groq()
    (repo / "README.md").write_text("# demo\n")
    commit(repo, "init")
    (repo / "config.py").write_text(f"DEBUG = True\nGROQ_API_KEY = '{old}'\n")
    c_old = commit(repo, "add config")
    (repo / "config.py").write_text("DEBUG = True\nextra = 1\n" + f"GROQ_API_KEY = '{old}'\n")
    commit(repo, "edit config")
    (repo / "config.py").unlink()
    commit(repo, "remove config")
    (repo / "app.py").write_text(f"x = 1\ny = 2\nKEY = '{live}'\n")
    c_live = commit(repo, "add app")

    found = {f.secret: f for f in scan_git_history(repo)}
    assert set(found) == {old, live}
    assert (found[old].commit, found[old].path, found[old].line) == (c_old, "config.py", 2)
    assert found[old].present_at_head is False
    assert (found[live].commit, found[live].path, found[live].line) == (c_live, "app.py", 3)
    assert found[live].present_at_head is True


def test_scan_history_branches_dotenv_and_range(repo: Path) -> None:
    (repo / "a.txt").write_text("a\n")
    base = commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / ".env").write_text("TOKEN=abc\n")
    key = groq()
    (repo / "b.txt").write_text(f"{key}\n")
    c_feat = commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")

    found = {(f.detector, f.path): f for f in scan_git_history(repo)}
    assert set(found) == {("dotenv-file", ".env"), ("groq-api-key", "b.txt")}
    assert found[("groq-api-key", "b.txt")].commit == c_feat
    assert found[("groq-api-key", "b.txt")].present_at_head is False
    assert scan_git_history(repo, revs=["main"]) == []
    ranged = scan_git_history(repo, revs=[f"{base}..feature"])
    assert {f.detector for f in ranged} == {"dotenv-file", "groq-api-key"}


def test_scan_history_rejects_non_repo_and_bad_revs(
    tmp_path_factory: pytest.TempPathFactory, repo: Path
) -> None:
    plain = tmp_path_factory.mktemp("plain")
    with pytest.raises(GitError):
        scan_git_history(plain)
    with pytest.raises(GitError):
        scan_git_history(repo, revs=["--output=/tmp/x"])
