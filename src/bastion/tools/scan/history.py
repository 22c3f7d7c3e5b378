"""Git history scanning: every blob ever introduced, scanned once.

Algorithm: ``git log --raw`` (oldest first, merges against every parent)
maps each blob to the first commit and path that introduced it; each distinct
blob is read once through ``git cat-file --batch`` and scanned. A secret is
attributed to the earliest commit whose blob contains it, and is "present at
HEAD" when any blob of HEAD's tree contains it.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .content import Hit
from .errors import GitError
from .files import git_executable

_BLOB_MODES = (b"100644", b"100755")
_ZERO = "0" * 40
MAX_BLOB_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob and where it first appeared."""

    sha: str
    path: str
    commit: str
    order: int


@dataclass(frozen=True, slots=True)
class HistoryHit:
    """A detection attributed to a commit."""

    hit: Hit
    commit: str
    present_at_head: bool


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    git = git_executable()
    if git is None:
        raise GitError("git is not installed")
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv built from constants and validated revs
            [git, "-C", str(root), *args], input=stdin, capture_output=True, check=False
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc}") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout


def validate_revs(revs: list[str]) -> list[str]:
    """Reject revision arguments that git would read as arbitrary options."""
    allowed_opts = {"--not", "--all", "--branches", "--remotes", "--tags"}
    for rev in revs:
        if rev.startswith("-") and rev not in allowed_opts:
            raise GitError(f"unsupported revision argument: {rev}")
    return revs


def introduced_blobs(root: Path, revs: list[str] | None = None) -> list[BlobRef]:
    """Every blob introduced by the selected commits, oldest first, each once."""
    spec = validate_revs(revs) if revs else ["--all"]
    out = _git(
        root, "log", *spec, "--reverse", "--topo-order", "-m", "--root", "--raw", "--no-abbrev",
        "--no-renames", "-z", "--format=%x01%H", "--",
    )
    seen: set[str] = set()
    blobs: list[BlobRef] = []
    for record in out.split(b"\x01"):
        if len(record) < 40:
            continue
        commit = record[:40].decode("ascii")
        fields = record[40:].split(b"\0")
        i = 0
        while i + 1 < len(fields):
            meta = fields[i].strip()
            if not meta.startswith(b":"):
                i += 1
                continue
            parts = meta[1:].split(b" ")
            path = fields[i + 1].decode("utf-8", "surrogateescape")
            i += 2
            if len(parts) < 5 or parts[1] not in _BLOB_MODES or parts[4][:1] == b"D":
                continue
            sha = parts[3].decode("ascii")
            if sha != _ZERO and sha not in seen:
                seen.add(sha)
                blobs.append(BlobRef(sha, path, commit, len(blobs)))
    return blobs


def head_blobs(root: Path) -> set[str]:
    """Blob ids of HEAD's tree (empty when the repository has no commit)."""
    try:
        out = _git(root, "ls-tree", "-r", "-z", "HEAD")
    except GitError:
        return set()
    shas: set[str] = set()
    for entry in out.split(b"\0"):
        meta = entry.split(b"\t", 1)[0].split(b" ")
        if len(meta) == 3 and meta[1] == b"blob":
            shas.add(meta[2].decode("ascii"))
    return shas


def read_blobs(root: Path, blobs: list[BlobRef]) -> Iterator[tuple[BlobRef, bytes]]:
    """Stream blob contents through one ``git cat-file --batch`` process."""
    git = git_executable()
    if git is None:
        raise GitError("git is not installed")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [git, "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        try:
            for ref in blobs:
                stdin.write(ref.sha.encode("ascii") + b"\n")
            stdin.close()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for ref in blobs:
            header = stdout.readline().split()
            if len(header) != 3:
                continue
            size = int(header[2])
            data = stdout.read(size)
            stdout.read(1)
            if size <= MAX_BLOB_BYTES:
                yield ref, data
    finally:
        stdout.close()
        writer.join(timeout=5)
        proc.wait(timeout=30)


def ensure_repository(root: Path) -> None:
    """Raise :class:`GitError` unless ``root`` is inside a git repository."""
    _git(root, "rev-parse", "--git-dir")
