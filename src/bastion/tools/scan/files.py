"""File discovery: ``git ls-files`` inside work trees, a .gitignore-aware walk elsewhere.

:func:`iter_files` yields ``(filesystem path, display path)`` for every
regular file under the requested roots. ``.git`` directories and symlinks are
never followed. Explicitly named files are always yielded.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ScanUsageError


@dataclass(frozen=True, slots=True)
class _Rule:
    base: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool
    anchored: bool


def _translate(pat: str) -> str:
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
                continue
            if pat.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (j := pat.find("]", i + 1)) != -1:
            body = pat[i + 1 : j]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = j + 1
            continue
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pat[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_gitignore(text: str, base: str = "") -> list[_Rule]:
    """Parse .gitignore ``text`` whose directory is ``base`` (relative, '' for root)."""
    rules: list[_Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith(("\\#", "\\!")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        try:
            regex = re.compile(_translate(line))
        except re.error:
            continue
        rules.append(_Rule(base, regex, negate, dir_only, anchored))
    return rules


def is_ignored(rules: list[_Rule], rel: str, is_dir: bool) -> bool:
    """Apply gitignore ``rules`` (outermost first) to the root-relative path ``rel``."""
    ignored = False
    name = rel.rsplit("/", 1)[-1]
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.base:
            if not rel.startswith(rule.base + "/"):
                continue
            sub = rel[len(rule.base) + 1 :]
        else:
            sub = rel
        if rule.regex.fullmatch(sub if rule.anchored else name):
            ignored = not rule.negate
    return ignored


def _walk(root: Path, use_gitignore: bool) -> Iterator[tuple[Path, str]]:
    stack: list[tuple[Path, str, list[_Rule]]] = [(root, "", [])]
    while stack:
        directory, rel_dir, rules = stack.pop()
        if use_gitignore:
            gi = directory / ".gitignore"
            if gi.is_file():
                rules = rules + parse_gitignore(gi.read_text("utf-8", "replace"), rel_dir)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name != ".git" and not (use_gitignore and is_ignored(rules, rel, True)):
                    stack.append((Path(entry.path), rel, rules))
            elif entry.is_file() and not (use_gitignore and is_ignored(rules, rel, False)):
                yield Path(entry.path), rel


def git_executable() -> str | None:
    """Absolute path of ``git`` or None when it is not installed."""
    return shutil.which("git")


def _git_listing(root: Path) -> list[str] | None:
    git = git_executable()
    if git is None:
        return None
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [git, "-C", str(root), "ls-files", "-z", "-co", "--exclude-standard"],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _regular_size(path: str) -> int | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def iter_files(
    roots: Sequence[str | Path], *, use_gitignore: bool = True
) -> Iterator[tuple[str, str, int]]:
    """Yield ``(path, display, size)`` for every regular file to scan under ``roots``.

    Raises :class:`ScanUsageError` for a root that does not exist.
    """
    for root in roots:
        try:
            root_stat = os.stat(root)
        except OSError as exc:
            raise ScanUsageError(f"no such file or directory: {root}") from exc
        if not stat.S_ISDIR(root_stat.st_mode):
            yield str(root), str(root), root_stat.st_size
            continue
        listing = _git_listing(Path(root)) if use_gitignore else None
        if listing is None:
            listing = [rel for _, rel in _walk(Path(root), use_gitignore)]
        rels = iter(listing)
        for rel in rels:
            path = os.path.join(root, rel)
            size = _regular_size(path)
            if size is not None:
                yield path, os.path.normpath(path), size
