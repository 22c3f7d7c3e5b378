"""Plain-Python API: :func:`scan_paths`, :func:`scan_git_history`, :func:`scan_bytes`.

All three return :class:`~bastion.tools.scan.model.Finding` lists sorted by
location (history: by introducing commit order). Many files are scanned in a
process pool (``jobs`` workers, default: all cores); small inputs stay in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from .content import Hit, is_plain_text, scan_blob, scan_stream, scan_text_batch
from .files import iter_files
from .history import BlobRef, ensure_repository, head_blobs, introduced_blobs, read_blobs
from .model import Finding, fingerprint
from .registry import DETECTORS

log = logging.getLogger(__name__)

PARALLEL_MIN_FILES = 64
SMALL_FILE_BYTES = 1024 * 1024
BATCH_BYTES = 4 * 1024 * 1024
_T = TypeVar("_T")
_R = TypeVar("_R")


def to_finding(hit: Hit, commit: str | None = None, present: bool | None = None) -> Finding:
    """Turn an engine hit into a public finding (fingerprint, title, confidence)."""
    info = DETECTORS[hit.detector]
    return Finding(
        detector=hit.detector,
        title=info.title,
        confidence=info.confidence,
        path=hit.path,
        line=hit.line,
        column=hit.column,
        secret=hit.secret,
        fingerprint=fingerprint(hit.detector, hit.secret or hit.path),
        mask_prefix=info.prefix,
        commit=commit,
        present_at_head=present,
        note=hit.note,
    )


def _scan_file(path: str, display: str, size: int) -> list[Hit]:
    try:
        with open(path, "rb") as fh:
            return scan_stream(display, fh, size)
    except OSError as exc:
        log.warning("cannot read %s: %s", display, exc)
        return []


def _read_small(path: str, display: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        log.warning("cannot read %s: %s", display, exc)
        return None
    try:
        chunks: list[bytes] = []
        while block := os.read(fd, SMALL_FILE_BYTES):
            chunks.append(block)
        return b"".join(chunks)
    except OSError as exc:
        log.warning("cannot read %s: %s", display, exc)
        return None
    finally:
        os.close(fd)


def _scan_file_batch(items: list[tuple[str, str, int]]) -> list[Hit]:
    """Scan a batch of files; small plain-text files are packed into one engine call."""
    out: list[Hit] = []
    packed: list[tuple[str, bytes]] = []
    for path, display, size in items:
        if size > SMALL_FILE_BYTES:
            out.extend(_scan_file(path, display, size))
            continue
        data = _read_small(path, display)
        if data is None:
            continue
        if is_plain_text(display, data):
            packed.append((display, data))
        else:
            out.extend(scan_blob(display, data))
    out.extend(scan_text_batch(packed))
    return out


def _scan_blob_batch(items: list[tuple[int, str, bytes]]) -> list[tuple[int, list[Hit]]]:
    return [(idx, scan_blob(path, data)) for idx, path, data in items]


def _batches(items: Iterable[_T], size_of: Callable[[_T], int]) -> Iterator[list[_T]]:
    batch: list[_T] = []
    total = 0
    for item in items:
        batch.append(item)
        total += size_of(item)
        if total >= BATCH_BYTES or len(batch) >= 256:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def _executor(jobs: int) -> Executor:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method))


def _run(
    fn: Callable[[list[_T]], _R], batches: Iterable[list[_T]], jobs: int, parallel: bool
) -> Iterator[_R]:
    """Apply ``fn`` to each batch, in a process pool when ``parallel``; results in order."""
    if not parallel or jobs <= 1:
        for batch in batches:
            yield fn(batch)
        return
    with _executor(jobs) as pool:
        pending: list[Future[_R]] = []
        for batch in batches:
            pending.append(pool.submit(fn, batch))
            if len(pending) >= jobs * 3:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()


def default_jobs() -> int:
    """Number of worker processes used when ``jobs`` is not given."""
    return max(1, os.cpu_count() or 1)


def scan_paths(
    paths: Sequence[str | Path] = (".",), *, use_gitignore: bool = True, jobs: int | None = None
) -> list[Finding]:
    """Scan files and directories (respecting .gitignore unless told otherwise).

    Raises :class:`~bastion.tools.scan.errors.ScanUsageError` for missing paths.
    """
    roots = list(paths) or ["."]
    files = list(iter_files(roots, use_gitignore=use_gitignore))
    workers = jobs or default_jobs()
    parallel = len(files) >= PARALLEL_MIN_FILES
    hits: list[Hit] = []
    for result in _run(_scan_file_batch, _batches(files, lambda f: f[2]), workers, parallel):
        hits.extend(result)
    findings = [to_finding(h) for h in hits]
    findings.sort(key=lambda f: (f.path, f.line, f.column, f.detector))
    return findings


def scan_bytes(name: str, data: bytes) -> list[Finding]:
    """Scan one in-memory blob named ``name`` (archives and notebooks included)."""
    return [to_finding(h) for h in scan_blob(name, data)]


def scan_git_history(
    repo: str | Path = ".", *, revs: list[str] | None = None, jobs: int | None = None
) -> list[Finding]:
    """Scan every blob introduced by the selected commits (default: all refs).

    Each secret is reported once, at the earliest commit/path/line that holds
    it, with ``present_at_head`` telling whether HEAD still contains it.
    Raises :class:`~bastion.tools.scan.errors.GitError` outside a repository.
    """
    root = Path(repo)
    ensure_repository(root)
    blobs = introduced_blobs(root, revs)
    head = head_blobs(root)
    workers = jobs or default_jobs()
    refs: dict[int, BlobRef] = {b.order: b for b in blobs}
    stream = ((ref.order, ref.path, data) for ref, data in read_blobs(root, blobs))
    parallel = len(blobs) >= PARALLEL_MIN_FILES
    earliest: dict[tuple[str, str], tuple[int, Hit]] = {}
    present: dict[tuple[str, str], bool] = {}
    for result in _run(_scan_blob_batch, _batches(stream, lambda t: len(t[2])), workers, parallel):
        for order, hits in result:
            in_head = refs[order].sha in head
            for hit in hits:
                key = (hit.detector, hit.secret or hit.path)
                present[key] = present.get(key, False) or in_head
                if key not in earliest or order < earliest[key][0]:
                    earliest[key] = (order, hit)
    ordered = sorted(earliest.items(), key=lambda kv: (kv[1][0], kv[1][1].line))
    return [to_finding(hit, refs[order].commit, present[key]) for key, (order, hit) in ordered]
