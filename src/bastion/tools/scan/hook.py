"""Installer for a git ``pre-push`` hook that runs ``bastion scan``.

The hook scans the commits being pushed (``remote..local``, or everything not
on any remote for a new branch) and falls back to scanning the work tree when
git gives it nothing to compare. It refuses to overwrite a foreign hook.
"""

from __future__ import annotations

import shlex
import stat
import subprocess
import sys
from pathlib import Path

from .errors import HookInstallError
from .files import git_executable

MARKER = "# installed by: bastion scan --install-hook"

_TEMPLATE = """#!/bin/sh
{marker}
# Blocks a push that would publish AI provider keys. Bypass once: git push --no-verify
if [ -x {python} ]; then scan() {{ {python} -m bastion.tools.scan "$@"; }}
else scan() {{ bastion scan "$@"; }}
fi
status=0
scanned=0
while read -r local_ref local_sha remote_ref remote_sha; do
  case "$local_sha" in *[!0]*) ;; *) continue ;; esac
  case "$remote_sha" in
    *[!0]*) range="$remote_sha..$local_sha" ;;
    *) range="$local_sha --not --remotes" ;;
  esac
  scanned=1
  scan --git-history --rev-range "$range" . || status=1
done
if [ "$scanned" = 0 ]; then
  scan . || status=1
fi
exit $status
"""


def _hook_path(repo: Path) -> Path:
    git = git_executable()
    if git is None:
        raise HookInstallError("git is not installed")
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [git, "-C", str(repo), "rev-parse", "--git-path", "hooks/pre-push"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise HookInstallError(f"{repo} is not inside a git repository")
    path = Path(proc.stdout.strip())
    return path if path.is_absolute() else repo / path


def install_pre_push_hook(repo: Path, python: str | None = None) -> Path:
    """Write the pre-push hook for ``repo`` and return its path.

    Overwrites a hook previously installed by this function; raises
    :class:`HookInstallError` when another pre-push hook is already present.
    """
    path = _hook_path(repo)
    if path.exists() and MARKER not in path.read_text("utf-8", "replace"):
        raise HookInstallError(f"{path} exists and was not written by bastion; merge it by hand")
    script = _TEMPLATE.format(marker=MARKER, python=shlex.quote(python or sys.executable))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script, "utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise HookInstallError(f"cannot write {path}: {exc}") from exc
    return path
